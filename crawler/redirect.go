package crawler

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/crawld/crawld/filter"
	"github.com/crawld/crawld/queue"
)

// isRedirect reports whether status is a redirect whose Location is followed.
func isRedirect(status int) bool {
	switch status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// redirect handles a redirect response. It queues the next hop and reports
// true, or fills rec with why the chain ends here: a loop, too long, refused
// by the filter (an error), or a target already crawled under its own
// record (the redirect's own record, final_url naming the target).
func (c *Crawler) redirect(ctx context.Context, it queue.Item, from *url.URL, location string, rec *Record) (bool, error) {
	echo := c.echoLimit()
	if c.cfg.MaxURLLength > 0 && len(location) > c.cfg.MaxURLLength {
		c.counts.filtered[filter.ReasonTooLong].Add(1)
		rec.Status, rec.ErrorKind, rec.Error = 0, kindFilter, fmt.Sprintf("redirect refused by filter (%s, location of %d bytes): %s",
			filter.ReasonTooLong, len(location), clipURL(location, echo))
		return false, nil
	}
	target, err := from.Parse(location)
	if err != nil {
		rec.Status, rec.ErrorKind, rec.Error = 0, kindRedirect, fmt.Sprintf("redirect: invalid location %q", clipURL(location, echo))
		return false, nil
	}
	target = filter.Normalize(target)
	rec.FinalURL = clipURL(target.String(), echo)
	chain := redirectChain(it)
	if slices.Contains(chain, target.String()) {
		rec.Status, rec.ErrorKind, rec.Error = 0, kindRedirect, clipURL("redirect loop: "+strings.Join(append(chain, target.String()), " -> "), echo)
		return false, nil
	}
	if it.Redirects >= c.cfg.MaxRedirects {
		rec.Status, rec.ErrorKind, rec.Error = 0, kindRedirect, fmt.Sprintf("too many redirects (> %d)", c.cfg.MaxRedirects)
		return false, nil
	}
	if reason := c.rules.Load().Check(target); reason != filter.ReasonOK {
		c.counts.filtered[reason].Add(1)
		rec.Status, rec.ErrorKind, rec.Error = 0, kindFilter, fmt.Sprintf("redirect refused by filter (%s): %s", reason, rec.FinalURL)
		return false, nil
	}
	next := queue.Item{
		URL:       target.String(),
		Host:      target.Host,
		Depth:     it.Depth,
		Kind:      queue.KindPage,
		Redirects: it.Redirects + 1,
		Origin:    rec.URL,
		Via:       strings.Join(chain[1:], " "),
		Referrer:  it.Referrer,
	}
	// The hop inherits the admission of the URL that led to it, so it does
	// not count against max_pages again.
	admissions, err := c.enqueue(ctx, []queue.Item{next}, false)
	return err == nil && admissions[0] == queue.Added, err
}

// redirectChain returns the URLs of the redirect chain that led to it,
// oldest first: the URL admitted, the hops after it, and it.
func redirectChain(it queue.Item) []string {
	if it.Origin == "" {
		return []string{it.URL}
	}
	chain := []string{it.Origin}
	if it.Via != "" {
		chain = append(chain, strings.Split(it.Via, " ")...)
	}
	return append(chain, it.URL)
}
