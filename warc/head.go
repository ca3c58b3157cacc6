package warc

import (
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// responseHead is the head of a response record's block: the status line
// (HTTP/1.1 whatever the protocol was) and header, as http.Header.Write
// writes it (fields sorted by name, line breaks in values made spaces,
// invalid names left out), but for what the stored payload changes: it is
// stored as received after transfer decoding, so the header has no
// Transfer-Encoding and its Content-Length is the payload's.
func responseHead(status int, h http.Header, payloadLen int) []byte {
	var keysArray [32]string
	keys := keysArray[:0]
	size := len("HTTP/1.1 000 \r\nContent-Length: \r\n\r\n") + 40
	for k, vs := range h {
		if k == "Transfer-Encoding" || k == "Content-Length" || !httpguts.ValidHeaderFieldName(k) {
			continue
		}
		keys = append(keys, k)
		for _, v := range vs {
			size += len(k) + len(v) + 4
		}
	}
	slices.Sort(keys)
	b := make([]byte, 0, size)
	b = strconv.AppendInt(append(b, "HTTP/1.1 "...), int64(status), 10)
	b = append(append(append(b, ' '), http.StatusText(status)...), "\r\n"...)
	contentLength := false
	for _, k := range keys {
		if !contentLength && k > "Content-Length" {
			b, contentLength = appendContentLength(b, payloadLen), true
		}
		for _, v := range h[k] {
			if strings.ContainsAny(v, "\r\n") {
				v = strings.NewReplacer("\n", " ", "\r", " ").Replace(v)
			}
			b = append(append(append(b, k...), ": "...), textproto.TrimString(v)...)
			b = append(b, "\r\n"...)
		}
	}
	if !contentLength {
		b = appendContentLength(b, payloadLen)
	}
	return append(b, "\r\n"...)
}

func appendContentLength(b []byte, n int) []byte {
	return append(strconv.AppendInt(append(b, "Content-Length: "...), int64(n), 10), "\r\n"...)
}
