package robots

import (
	"slices"
	"testing"
)

// check parses body for agent and compares Allowed for each target.
func check(t *testing.T, body, agent string, want map[string]bool) {
	t.Helper()
	r := Parse([]byte(body), agent)
	targets := make([]string, 0, len(want))
	for target := range want {
		targets = append(targets, target)
	}
	slices.Sort(targets)
	for _, target := range targets {
		if got := r.Allowed(target); got != want[target] {
			t.Errorf("agent %q: Allowed(%q) = %v, want %v", agent, target, got, want[target])
		}
	}
}

// rfcExample is the example file of RFC 9309 5.1.
const rfcExample = `User-Agent: *
Disallow: *.gif$
Disallow: /example/
Allow: /publications/

User-Agent: foobot
Disallow:/
Allow:/example/page.html
Allow:/example/allowed.gif

User-Agent: barbot
User-Agent: bazbot
Disallow: /example/page.html

User-Agent: quxbot

EOF
`

// realistic is a robots.txt of the kind large shops and publishers serve,
// about 5 KiB.
const realistic = `# robots.txt for www.example-shop.com
#
# Crawlers: please honour Crawl-delay. Contact webmaster@example-shop.com
# if your crawler needs different access.
#
# Last reviewed by the SEO team in March. Faceted navigation (sort, filter,
# price, colour and size parameters) is blocked to keep crawlers out of
# near-infinite URL spaces; product and category pages stay open.

User-agent: *
Crawl-delay: 1
Disallow: /cgi-bin/
Disallow: /tmp/
Disallow: /admin/
Disallow: /wp-admin/
Allow: /wp-admin/admin-ajax.php
Disallow: /wp-includes/
Disallow: /wp-content/plugins/
Allow: /wp-content/uploads/
Disallow: /xmlrpc.php
Disallow: /checkout/
Disallow: /cart/
Disallow: /account/
Disallow: /login
Disallow: /logout
Disallow: /register
Disallow: /password-reset
Disallow: /wishlist/
Disallow: /compare/
Disallow: /search
Allow: /search/help
Disallow: /*?sort=
Disallow: /*&sort=
Disallow: /*?filter=
Disallow: /*&filter=
Disallow: /*?price=
Disallow: /*&price=
Disallow: /*?color=
Disallow: /*&color=
Disallow: /*?size=
Disallow: /*&size=
Disallow: /*?sessionid=
Disallow: /*&sessionid=
Disallow: /*?utm_source=
Disallow: /*&utm_source=
Disallow: /*?utm_medium=
Disallow: /*&utm_medium=
Disallow: /*?utm_campaign=
Disallow: /*&utm_campaign=
Disallow: /*?ref=
Disallow: /*.json$
Disallow: /*.xml$
Allow: /sitemap*.xml$
Disallow: /*/print$
Disallow: /*/feed/
Disallow: /*/trackback/
Disallow: /*/amp/$
Disallow: /tag/*/page/
Disallow: /category/*/page/
Disallow: /author/
Disallow: /api/
Allow: /api/docs/
Disallow: /internal/
Disallow: /preview/
Disallow: /drafts/
Disallow: /print/
Disallow: /email-a-friend/
Disallow: /review/add/
Disallow: /catalog/product_compare/
Disallow: /catalog/category/view/
Disallow: /catalog/product/view/
Disallow: /catalogsearch/
Disallow: /newsletter/
Disallow: /poll/
Disallow: /sendfriend/
Disallow: /tag/
Disallow: /customer/
Disallow: /downloadable/
Disallow: /onestepcheckout/
Disallow: /paypal/
Disallow: /rss/
Disallow: /index.php/
Disallow: /*.php$
Allow: /index.php$
Allow: /static/
Allow: /media/catalog/product/
Disallow: /media/tmp/
Disallow: /media/customer/
Disallow: /media/downloadable/
Disallow: /media/import/
Disallow: /var/
Disallow: /lib/
Disallow: /pkginfo/
Disallow: /shell/
Disallow: /app/
Disallow: /errors/
Disallow: /includes/
Disallow: /dev/
Disallow: /setup/
Disallow: /update/
Disallow: /vendor/
Disallow: /LICENSE.txt
Disallow: /LICENSE.html
Disallow: /CHANGELOG.md
Disallow: /README.md
Disallow: /composer.json
Disallow: /composer.lock
Disallow: /package.json

# Image crawlers may fetch product images only.
User-agent: Googlebot-Image
User-agent: bingbot-image
Allow: /media/catalog/product/
Allow: /static/images/
Disallow: /

# Ad and SEO tools: no thanks.
User-agent: AhrefsBot
User-agent: SemrushBot
User-agent: MJ12bot
User-agent: DotBot
User-agent: BLEXBot
User-agent: PetalBot
User-agent: MegaIndex
Disallow: /

User-agent: AdsBot-Google
Allow: /
Disallow: /checkout/
Disallow: /cart/

User-agent: Mediapartners-Google
Disallow:

# Well-behaved research crawlers: slower, and not the shop.
User-agent: crawld
Crawl-delay: 2.5
Disallow: /cgi-bin/
Disallow: /admin/
Disallow: /wp-admin/
Allow: /wp-admin/admin-ajax.php
Disallow: /checkout/
Disallow: /cart/
Disallow: /account/
Disallow: /search
Disallow: /*?sort=
Disallow: /*&sort=
Disallow: /*?filter=
Disallow: /*&filter=
Disallow: /*?sessionid=
Disallow: /*&sessionid=
Disallow: /*?utm_
Disallow: /*&utm_
Disallow: /*.json$
Disallow: /*/print$
Disallow: /*/feed/
Disallow: /tag/*/page/
Disallow: /category/*/page/
Disallow: /api/
Allow: /api/docs/
Disallow: /internal/
Disallow: /preview/
Disallow: /catalog/product_compare/
Disallow: /catalogsearch/
Disallow: /customer/
Disallow: /media/tmp/
Disallow: /media/customer/
Allow: /media/catalog/product/
Allow: /static/

User-agent: ia_archiver
Disallow: /checkout/

# Regional storefronts duplicate the main catalogue.
User-agent: bingbot
User-agent: Slurp
User-agent: DuckDuckBot
User-agent: YandexBot
Crawl-delay: 5
Disallow: /de/checkout/
Disallow: /fr/checkout/
Disallow: /es/checkout/
Disallow: /it/checkout/
Disallow: /nl/checkout/
Disallow: /de/konto/
Disallow: /fr/compte/
Disallow: /es/cuenta/
Disallow: /it/account/
Disallow: /nl/account/
Disallow: /*/suche?
Disallow: /*/recherche?
Disallow: /*/buscar?
Disallow: /*/cerca?
Disallow: /*/zoeken?
Disallow: /*?sort=
Disallow: /*?filter=
Disallow: /*?sessionid=
Disallow: /*.json$
Disallow: /api/
Allow: /api/docs/
Disallow: /internal/
Disallow: /preview/
Disallow: /drafts/
Disallow: /customer/
Disallow: /media/tmp/
Allow: /media/catalog/product/
Allow: /static/

User-agent: Applebot
User-agent: facebookexternalhit
User-agent: Twitterbot
User-agent: LinkedInBot
Allow: /products/
Allow: /blog/
Allow: /static/
Allow: /media/catalog/product/
Disallow: /

Sitemap: https://www.example-shop.com/sitemap.xml
Sitemap: https://www.example-shop.com/sitemap-products.xml
Sitemap: https://www.example-shop.com/sitemap-categories.xml
Sitemap: https://www.example-shop.com/sitemap-blog.xml
Sitemap: https://www.example-shop.com/sitemap.xml
Host: www.example-shop.com
`
