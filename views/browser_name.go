package views

import "strings"

// BrowserName is a short readable name of the browser a User-Agent
// describes, "Chrome on macOS": the browser family and the system, from
// the tokens every major browser sends. Anything it does not recognise
// (an empty string, a script) is "Unknown browser"; an unknown system
// leaves the browser alone ("Firefox").
func BrowserName(userAgent string) string {
	browser := browserFamily(userAgent)
	if browser == "" {
		return "Unknown browser"
	}
	if system := systemName(userAgent); system != "" {
		return browser + " on " + system
	}
	return browser
}

// browserFamily reads the browser. Order matters: Edge, Opera and Samsung
// Internet also say Chrome and Safari, Chrome also says Safari, and on iOS
// every browser is Safari underneath with its own token (CriOS, FxiOS,
// EdgiOS).
func browserFamily(ua string) string {
	has := func(token string) bool { return strings.Contains(ua, token) }
	switch {
	case has("Edg/"), has("EdgA/"), has("EdgiOS/"):
		return "Edge"
	case has("OPR/"), has("OPiOS/"), has("Opera"):
		return "Opera"
	case has("SamsungBrowser/"):
		return "Samsung Internet"
	case has("Firefox/"), has("FxiOS/"):
		return "Firefox"
	case has("CriOS/"), has("Chrome/"), has("Chromium/"):
		return "Chrome"
	case has("Safari/") && has("Version/"):
		return "Safari"
	}
	return ""
}

// systemName reads the operating system. iPhone and iPad come before Mac
// OS X, which they also say; Android before Linux.
func systemName(ua string) string {
	has := func(token string) bool { return strings.Contains(ua, token) }
	switch {
	case has("Windows"):
		return "Windows"
	case has("iPhone"), has("iPod"):
		return "iOS"
	case has("iPad"):
		return "iPadOS"
	case has("Android"):
		return "Android"
	case has("CrOS"):
		return "ChromeOS"
	case has("Macintosh"), has("Mac OS X"):
		return "macOS"
	case has("Linux"):
		return "Linux"
	}
	return ""
}
