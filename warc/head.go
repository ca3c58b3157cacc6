package warc

import (
	"bytes"
	"net/http"
	"strconv"
)

// storedHeadExcludes are the response header fields a stored payload
// changes (read only): it is stored as received after transfer decoding, so the head
// has no Transfer-Encoding, and a Content-Length of its own.
var storedHeadExcludes = map[string]bool{"Transfer-Encoding": true, "Content-Length": true}

// responseHead is the head of a response record's block: the status line
// (HTTP/1.1 whatever the protocol was) and the header as
// http.Header.WriteSubset writes it (fields sorted by name, line breaks
// in values made spaces, invalid names left out), without the fields the
// stored payload changes, then its own Content-Length.
func responseHead(status int, h http.Header, payloadLen int) []byte {
	var b bytes.Buffer
	b.Grow(512)
	b.WriteString("HTTP/1.1 ")
	b.WriteString(strconv.Itoa(status))
	b.WriteByte(' ')
	b.WriteString(http.StatusText(status))
	b.WriteString("\r\n")
	_ = h.WriteSubset(&b, storedHeadExcludes) // a bytes.Buffer does not fail
	b.WriteString("Content-Length: ")
	b.WriteString(strconv.Itoa(payloadLen))
	b.WriteString("\r\n\r\n")
	return b.Bytes()
}
