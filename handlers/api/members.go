package api

import (
	"encoding/json"
	"errors"
	"io"
	"keydesk/models/apiauth"
	"keydesk/models/audit"
	"keydesk/models/database"
	"keydesk/models/input"
	"keydesk/models/members"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
)

// memberJSON is a member as the API shows it.
type memberJSON struct {
	MemberID  string    `json:"member_id"`
	Email     string    `json:"email"`
	FirstName string    `json:"first_name"`
	LastName  string    `json:"last_name"`
	CreatedAt time.Time `json:"created_at"`
}

func toMemberJSON(m *members.Member) memberJSON {
	return memberJSON{MemberID: m.MemberID, Email: m.Email, FirstName: m.FirstName, LastName: m.LastName, CreatedAt: m.CreatedAt.UTC()}
}

// createMemberRequest is the body of POST /v2/loyalty/members. Unknown
// fields are ignored, as integrations of the product send more than this.
type createMemberRequest struct {
	MemberID  string `json:"member_id"`
	Email     string `json:"email"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
}

// CreateMember adds a member to the calling key's program: the body is
// refused as refuseJSONBody says (415, 413, 400, 422 for a repeated member
// name), 422 for invalid fields, 409 for a member_id the program already
// has.
func (a *API) CreateMember(c echo.Context) error {
	var req createMemberRequest
	if refused, err := refuseJSONBody(c, &req); refused {
		return err
	}
	key := verifiedKey(c)
	m, err := a.members.Create(c.Request().Context(), key.ProgramID, keyActor(c, key), members.MemberInput{
		MemberID: req.MemberID, Email: req.Email, FirstName: req.FirstName, LastName: req.LastName,
	})
	var verr input.ValidationError
	switch {
	case errors.As(err, &verr):
		return apiError(c, http.StatusUnprocessableEntity, statusCode(http.StatusUnprocessableEntity), "Some fields are invalid.", map[string]any{"errors": map[string]string(verr)})
	case errors.Is(err, members.ErrMemberExists):
		return apiError(c, http.StatusConflict, statusCode(http.StatusConflict), "A member with this member_id already exists.", nil)
	case err != nil:
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"success": true, "data": toMemberJSON(m)})
}

// keyActor is who acts in an API call, for the audit trail: the calling
// key by its public identifier (never the key itself), from the client's
// address.
func keyActor(c echo.Context, key *apiauth.VerifiedKey) audit.Actor {
	return audit.Actor{
		Email:     audit.APIKeyActorName(key.Identifier),
		IP:        c.RealIP(),
		UserAgent: c.Request().UserAgent(),
		RequestID: c.Response().Header().Get(echo.HeaderXRequestID),
	}
}

// jsonProblem says what is wrong with a body without echoing its content.
func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return "The field " + typeErr.Field + " must be a " + typeErr.Type.String() + "."
	case errors.As(err, &typeErr):
		return "The body must be a JSON object."
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return "The body is not valid JSON."
	case errors.Is(err, io.EOF):
		return "The body is empty: send a JSON object."
	default:
		return "The body could not be read as JSON."
	}
}

// GetMember returns one member of the calling key's program; another
// program's member is a 404 like an unknown one.
func (a *API) GetMember(c echo.Context) error {
	return a.writeMember(c, verifiedKey(c).ProgramID, c.Param("member_id"))
}

func (a *API) writeMember(c echo.Context, programID int64, memberID string) error {
	m, err := a.members.ByMemberID(c.Request().Context(), programID, memberID)
	if errors.Is(err, database.ErrNotFound) {
		return apiError(c, http.StatusNotFound, statusCode(http.StatusNotFound), "No member with this member_id.", nil)
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"success": true, "data": toMemberJSON(m)})
}

// ListMembers returns a page of the program's members, oldest first:
// ?limit=1..100 (default 25) and ?cursor= from the previous page's
// next_cursor.
func (a *API) ListMembers(c echo.Context) error {
	limit := members.DefaultPageSize
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > members.MaxPageSize {
			return apiError(c, http.StatusBadRequest, statusCode(http.StatusBadRequest), "limit must be a whole number from 1 to "+strconv.Itoa(members.MaxPageSize)+".", nil)
		}
		limit = n
	}
	page, err := a.members.List(c.Request().Context(), verifiedKey(c).ProgramID, c.QueryParam("cursor"), limit)
	if errors.Is(err, members.ErrInvalidCursor) {
		return apiError(c, http.StatusBadRequest, statusCode(http.StatusBadRequest), "cursor is not one this API returned.", nil)
	}
	if err != nil {
		return err
	}
	members := make([]memberJSON, len(page.Members))
	for i := range page.Members {
		members[i] = toMemberJSON(&page.Members[i])
	}
	var next any
	if page.Next != "" {
		next = page.Next
	}
	return c.JSON(http.StatusOK, map[string]any{
		"success": true,
		"data":    map[string]any{"members": members, "next_cursor": next, "limit": limit},
	})
}

// UIMember returns the member the UI token acts for.
func (a *API) UIMember(c echo.Context) error {
	claims, _ := c.Get(ctxUIClaims).(*apiauth.UIClaims)
	if claims == nil {
		return unauthorized(c)
	}
	return a.writeMember(c, verifiedKey(c).ProgramID, claims.MemberID)
}
