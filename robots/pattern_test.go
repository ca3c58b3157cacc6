package robots

import "testing"

func TestPatterns(t *testing.T) {
	tests := []struct {
		name    string
		pattern string // the only rule, a disallow
		want    map[string]bool
	}{
		{"prefix", "/fish", map[string]bool{
			"/fish": false, "/fish.html": false, "/fish/salmon": false, "/fishheads": false,
			"/Fish.asp": true, "/catfish": true, "/?id=fish": true, "/": true,
		}},
		{"trailing slash", "/fish/", map[string]bool{
			"/fish/": false, "/fish/?id=1": false, "/fish": true, "/fish.html": true,
		}},
		{"trailing star is no star", "/fish*", map[string]bool{
			"/fish": false, "/fishheads/x": false, "/catfish": true,
		}},
		{"inner star", "/*.php", map[string]bool{
			"/index.php": false, "/a/b.php?x": false, "/a.php5": false, "/php": true, "/index?php": true,
		}},
		{"star and dollar", "/*.php$", map[string]bool{
			"/index.php": false, "/a/b.php": false, "/a.php?x": true, "/a.php5": true, "/a.php/": true,
		}},
		{"dollar", "/foo/bar$", map[string]bool{
			"/foo/bar": false, "/foo/bar/": true, "/foo/bar?x": true, "/foo/barx": true,
		}},
		{"dollar not at end is literal", "/a$b", map[string]bool{
			"/a$b": false, "/a$bc": false, "/a": true, "/ab": true,
		}},
		{"dollar alone matches nothing", "$", map[string]bool{"/": true, "/x": true}},
		{"star dollar matches all", "*$", map[string]bool{"/": false, "/x?y": false}},
		{"leading star", "*.gif$", map[string]bool{"/a.gif": false, "/a/b.gif": false, "/a.gif?x": true}},
		{"no leading slash never matches a path", "private/", map[string]bool{"/private/": true}},
		{"several stars", "/a*b*c", map[string]bool{
			"/abc": false, "/a-b-c-d": false, "/axxbxxcxx": false, "/acb": true, "/ab": true,
		}},
		{"double star", "/a**c$", map[string]bool{"/ac": false, "/abbc": false, "/acd": true}},
		{"anchored needs room", "/ab*ba$", map[string]bool{"/aba": true, "/abba": false, "/abxba": false}},
		{"case-sensitive", "/X/", map[string]bool{"/x/y": true, "/X/y": false}},
		{"query", "/*?", map[string]bool{"/a?b": false, "/a": true}},
		{"comment", "/foo/quz#qux", map[string]bool{"/foo/quz": false, "/foo/qu": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, "User-agent: *\nDisallow: "+tt.pattern+"\n", "crawld", tt.want)
		})
	}
}

func TestPrecedence(t *testing.T) {
	tests := []struct {
		name  string
		rules string
		want  map[string]bool
	}{
		{"tie goes to allow", "Disallow: /page\nAllow: /page\n", map[string]bool{"/page": true}},
		{"tie goes to allow, either order", "Allow: /page\nDisallow: /page\n", map[string]bool{"/page": true}},
		{"tie with wildcards", "Disallow: /*.htm\nAllow: /p*.htm\n", map[string]bool{"/page.htm": true}},
		{"longer disallow wins", "Allow: /x/\nDisallow: /x/page.html\n", map[string]bool{
			"/x/page.html": false, "/x/other": true,
		}},
		{"longer allow wins", "Disallow: /x/\nAllow: /x/page.html\n", map[string]bool{
			"/x/page.html": true, "/x/other": false,
		}},
		{"octets of the pattern, not of the match", "Allow: /x/page.\nDisallow: /*.html\n", map[string]bool{
			"/x/page.html": true, "/x/y.html": false,
		}},
		{"/ beaten by anything", "Disallow: /\nAllow: /$\n", map[string]bool{"/": true, "/page": false}},
		{"empty disallow matches nothing", "Disallow:\n", map[string]bool{"/": true, "/x": true}},
		{"empty allow matches nothing", "Disallow: /\nAllow:\n", map[string]bool{"/x": false}},
		{"no rule matches", "Disallow: /private\n", map[string]bool{"/public": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { check(t, "User-agent: crawld\n"+tt.rules, "crawld", tt.want) })
	}
}

func TestEncoding(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		want    map[string]bool
	}{
		{"UTF-8 pattern", "/foo/bar/ツ", map[string]bool{
			"/foo/bar/%E3%83%84": false, "/foo/bar/%e3%83%84": false, "/foo/bar/%E3%83%84/x": false,
			"/foo/bar/ツ": false, "/foo/bar/": true,
		}},
		{"escaped pattern", "/foo/bar/%E3%83%84", map[string]bool{
			"/foo/bar/%E3%83%84": false, "/foo/bar/%e3%83%84": false, "/foo/bar/ツ": false,
		}},
		{"lowercase escape in pattern", "/a%2fb", map[string]bool{"/a%2Fb": false, "/a%2fb": false, "/a/b": true}},
		{"escaped slash stays escaped", "/a%2Fb", map[string]bool{"/a%2Fb": false, "/a/b": true}},
		{"escaped unreserved decoded", "/foo/bar/%62%61%7A", map[string]bool{
			"/foo/bar/baz": false, "/foo/bar/%62%61%7a": false, "/foo/bar/ba": true,
		}},
		{"tilde", "/%7Euser/", map[string]bool{"/~user/x": false, "/%7euser/x": false, "/user/": true}},
		{"escaped star is literal", "/a%2A", map[string]bool{"/a%2A": false, "/a%2a": false, "/ab": true, "/a*": true}},
		{"escaped dollar is literal", "/a%24", map[string]bool{"/a%24": false, "/a%24b": false, "/a": true}},
		{"space", "/a b", map[string]bool{"/a%20b": false, "/a+b": true}},
		{"stray percent", "/100%", map[string]bool{"/100%25": false, "/100": true}},
		{"query as written", "/foo/bar?qux=taz&baz=http://foo.bar?tar&par", map[string]bool{
			"/foo/bar?qux=taz&baz=http://foo.bar?tar&par": false,
			"/foo/bar?qux=taz&baz=http%3A%2F%2Ffoo.bar":   true,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, "User-agent: *\nAllow: /\nDisallow: "+tt.pattern+"\n", "crawld", tt.want)
		})
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/a/b?c=d", "/a/b?c=d"},
		{"/%e3%83%84", "/%E3%83%84"},
		{"/ツ", "/%E3%83%84"},
		{"/%41%2d%7e%5F", "/A-~_"},
		{"/%2f%3a", "/%2F%3A"},
		{"/%", "/%25"},
		{"/%4", "/%254"},
		{"/%zz", "/%25zz"},
		{"/a b\t", "/a%20b%09"},
		{`/"<>\^{|}` + "`", "/%22%3C%3E%5C%5E%7B%7C%7D%60"},
		{"/*$", "/*$"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := normalize(tt.in); got != tt.want {
			t.Errorf("normalize(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := normalize(tt.want); got != tt.want {
			t.Errorf("normalize(%q) = %q, want it unchanged (idempotence)", tt.want, got)
		}
	}
}
