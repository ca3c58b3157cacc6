package queue

import "time"

// Capture is the archived record (WARC) holding a URL's payload, as the
// archive named it: what a 304 to the next round's conditional request
// refers to.
type Capture struct {
	URI      string    // the record's target URI (the URL's, or another's with the same payload)
	Date     time.Time // the record's date
	RecordID string    // the record's id; "" if unknown
	Digest   string    // the payload's digest; "" if unknown
}

// Capture returns the capture SaveCapture kept for url.
func (m *Memory) Capture(url string) (Capture, bool) {
	m.fetchedMu.Lock()
	defer m.fetchedMu.Unlock()
	v, ok := m.fetched[url]
	if !ok || v.capture.Date.IsZero() {
		return Capture{}, false
	}
	c := v.capture
	if c.URI == "" {
		c.URI = url
	}
	return c, true
}

// SaveCapture keeps c as url's capture, next to its validators, with
// Config.Revisitable; without, it does nothing, as SaveValidators.
func (m *Memory) SaveCapture(url string, c Capture) error {
	m.fetchedMu.Lock()
	defer m.fetchedMu.Unlock()
	if m.fetched == nil {
		return nil
	}
	if c.URI == url {
		c.URI = "" // most are the URL's own: not kept twice
	}
	v := m.fetched[url]
	v.capture = c
	m.fetched[url] = v
	return nil
}
