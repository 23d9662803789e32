package web

import (
	"keydesk/routes"
)

// auditTrailRoutes registers General » Audit Trail on a group that already
// requires a signed-in admin holding the audit_trail module.
func (s *Server) auditTrailRoutes(g routeSet) {
	h := s.Handlers
	auditTrail := func(path string) string { return under(routes.AuditTrail, path) }
	g.GET(auditTrail(routes.AuditTrail), h.AuditTrail)
	g.GET(auditTrail(routes.AuditTrailDownload), h.DownloadAuditTrail)
	g.GET(auditTrail(routes.AuditTrailDownloadJSONL), h.DownloadAuditTrailJSONL)
	g.POST(auditTrail(routes.AuditTrailVerify), h.VerifyAuditTrail)
}
