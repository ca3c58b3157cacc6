module github.com/crawld/crawld/bench/colly

go 1.26
