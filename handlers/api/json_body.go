package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode"

	"github.com/labstack/echo/v4"
)

// maxNamedPath bounds how much of a member name an error repeats.
const maxNamedPath = 100

// refuseJSONBody reads the request body, one JSON object, into dst. When
// the body is refused it writes the answer and returns true: 415 for
// another media type, 413 beyond the server's body limit, 400 for a body
// that is not exactly one JSON object or has a field of the wrong type, 422
// for an object that repeats a member name (ERROR_UNPROCESSABLE_ENTITY,
// like the other invalid fields, the repeated name in errors).
//
// A repeated name is refused rather than read as its last value, as
// encoding/json would: a proxy or log that reads the first one would see
// another request than keydesk. Names are compared as keydesk's decoder
// matches them to fields, ignoring case.
func refuseJSONBody(c echo.Context, dst any) (bool, error) {
	if mt, _, err := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType)); err != nil || mt != echo.MIMEApplicationJSON {
		return true, apiError(c, http.StatusUnsupportedMediaType, statusCode(http.StatusUnsupportedMediaType), "Send the body as application/json.", nil)
	}
	body, err := io.ReadAll(c.Request().Body)
	var tooLarge *echo.HTTPError
	if errors.As(err, &tooLarge) {
		// The body limit's own error: the error handler answers 413.
		return true, err
	}
	if err != nil {
		return true, apiError(c, http.StatusBadRequest, statusCode(http.StatusBadRequest), "The body could not be read.", nil)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(dst); err != nil {
		return true, apiError(c, http.StatusBadRequest, statusCode(http.StatusBadRequest), jsonProblem(err), nil)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return true, apiError(c, http.StatusBadRequest, statusCode(http.StatusBadRequest), "The body must be a single JSON object.", nil)
	}
	if path, repeated := repeatedMember(body); repeated {
		return true, apiError(c, http.StatusUnprocessableEntity, statusCode(http.StatusUnprocessableEntity),
			"The body repeats the member name "+strconv.Quote(path)+": send each field once.",
			map[string]any{"errors": map[string]string{path: "This member name appears more than once in its object."}})
	}
	return false, nil
}

// repeatedMember reports whether a member name appears twice in one object
// of body, at any depth, and the path of the first that does (a.b[2].c; an
// empty name is ""). Invalid JSON reports none: the decoder has said so by
// then.
func repeatedMember(body []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	path, repeated, _ := repeatedIn(dec, "")
	if len(path) > maxNamedPath {
		path = strings.ToValidUTF8(path[:maxNamedPath], "") + "…"
	}
	return path, repeated
}

// repeatedIn reads one value from dec's token stream, path being where it
// stands, and reports the first repeated member name in it by its path.
func repeatedIn(dec *json.Decoder, path string) (string, bool, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", false, err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return "", false, err
			}
			name, _ := tok.(string)
			at := name
			if name == "" {
				at = `""`
			}
			if path != "" {
				at = path + "." + at
			}
			if seen[foldName(name)] {
				return at, true, nil
			}
			seen[foldName(name)] = true
			if dup, repeated, err := repeatedIn(dec, at); repeated || err != nil {
				return dup, repeated, err
			}
		}
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			if dup, repeated, err := repeatedIn(dec, path+"["+strconv.Itoa(i)+"]"); repeated || err != nil {
				return dup, repeated, err
			}
		}
	default:
		return "", false, nil
	}
	_, err = dec.Token() // the closing delimiter
	return "", false, err
}

// foldName maps every name encoding/json would match to the same field
// (it ignores case, Unicode simple folding) to one string: each rune
// becomes the smallest of its fold orbit.
func foldName(name string) string {
	folded := make([]rune, 0, len(name))
	for _, r := range name {
		for {
			next := unicode.SimpleFold(r)
			if next <= r {
				r = next
				break
			}
			r = next
		}
		folded = append(folded, r)
	}
	return string(folded)
}
