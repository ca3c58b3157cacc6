module github.com/crawld/crawld

go 1.26.8
