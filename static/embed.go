// Package static embeds keydesk's front-end assets: the built Tailwind CSS,
// the vendored htmx and app.js.
package static

import "embed"

// FS holds the assets, served under /static/.
//
//go:embed css/app.css js/htmx.min.js js/app.js js/audit-time.js js/passkeys.js js/keys-filter.js js/usage-chart.js favicon.svg
var FS embed.FS
