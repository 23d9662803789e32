package web

// Start launches the server's background work.
func (s *Server) Start() error { return nil }

// Close stops the background work.
func (s *Server) Close() {}
