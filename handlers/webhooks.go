package handlers

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"keydesk/models/database"
	"keydesk/models/input"
	"keydesk/models/outbox"
	"keydesk/routes"
	"keydesk/views"
)

// webhookDeliveryLogSize is how many deliveries an endpoint's page lists.
const webhookDeliveryLogSize = 50

func endpointForm(c echo.Context) outbox.EndpointInput {
	form, _ := c.FormParams()
	return outbox.EndpointInput{URL: c.FormValue("url"), Description: c.FormValue("description"), Events: form["events"]}
}

// mailNotice is what General » Webhooks and General » Settings say about
// email notices: off and why, on, or how the program's last mail failed
// (read from the database, so every instance says the same).
func (h *Handler) mailNotice(c echo.Context) (views.EmailNoticesView, error) {
	v := views.EmailNoticesView{On: h.mail.On, Problem: h.mail.Problem}
	if !v.On {
		return v, nil
	}
	var err error
	v.Last, err = h.stores.Outbox.LastMailStatus(c.Request().Context(), principalOf(c).Program.ID)
	return v, err
}

func (h *Handler) wake() {
	if h.wakeWebhooks != nil {
		h.wakeWebhooks()
	}
}

// Webhooks renders General » Webhooks.
func (h *Handler) Webhooks(c echo.Context) error {
	return h.renderWebhooks(c, http.StatusOK, outbox.EndpointInput{}, nil)
}

func (h *Handler) renderWebhooks(c echo.Context, status int, form outbox.EndpointInput, errs input.ValidationError) error {
	eps, err := h.stores.Outbox.Endpoints(c.Request().Context(), principalOf(c).Program.ID)
	if err != nil {
		return err
	}
	mail, err := h.mailNotice(c)
	if err != nil {
		return err
	}
	v := views.WebhooksView{Endpoints: eps, Form: form, Errors: errs, Mail: mail, Limit: outbox.MaxEndpointsPerProgram}
	return render(c, status, views.WebhooksPage(h.shell(c, "Webhooks", views.NavWebhooks), v))
}

// CreateWebhook adds an endpoint and shows its signing secret once.
func (h *Handler) CreateWebhook(c echo.Context) error {
	p := principalOf(c)
	form := endpointForm(c)
	ep, secret, err := h.stores.Outbox.CreateEndpoint(c.Request().Context(), p.Program.ID, actor(c), form)
	var verr input.ValidationError
	if errors.As(err, &verr) {
		return h.renderWebhooks(c, http.StatusUnprocessableEntity, form, verr)
	}
	if errors.Is(err, outbox.ErrEndpointLimitReached) {
		// The page, now at the cap, says why beside the disabled button.
		return h.renderWebhooks(c, http.StatusConflict, form, nil)
	}
	if err != nil {
		return err
	}
	return h.renderEndpointWithSecret(c, ep, secret, false)
}

func (h *Handler) endpointParam(c echo.Context) (*outbox.Endpoint, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return nil, notFound()
	}
	ep, err := h.stores.Outbox.EndpointByID(c.Request().Context(), principalOf(c).Program.ID, id)
	if errors.Is(err, database.ErrNotFound) {
		return nil, notFound()
	}
	return ep, err
}

// deliveryParams are the endpoint and delivery id of a delivery's route.
func (h *Handler) deliveryParams(c echo.Context) (*outbox.Endpoint, int64, error) {
	ep, err := h.endpointParam(c)
	if err != nil {
		return nil, 0, err
	}
	id, err := strconv.ParseInt(c.Param("delivery"), 10, 64)
	if err != nil {
		return nil, 0, notFound()
	}
	return ep, id, nil
}

// WebhookEndpoint shows one endpoint: actions, delivery log, edit form.
func (h *Handler) WebhookEndpoint(c echo.Context) error {
	ep, err := h.endpointParam(c)
	if err != nil {
		return err
	}
	form := outbox.EndpointInput{URL: ep.URL, Description: ep.Description, Events: ep.Events()}
	return h.renderEndpoint(c, http.StatusOK, ep, form, nil, webhookNotices[c.QueryParam("done")])
}

// webhookNotices are what the endpoint page says after an action redirected to it.
var webhookNotices = map[string]string{
	"saved": "Endpoint saved.",
	"test":  "Test event queued: it appears in the delivery log below.",
	"retry": "Retry queued.",
	// Retry now on a delivery that succeeded (or is being sent) meanwhile.
	"delivered": "That delivery already succeeded: it is not sent again.",
	"in-flight": "That delivery is being attempted right now: its result appears in the log.",
}

func (h *Handler) renderEndpoint(c echo.Context, status int, ep *outbox.Endpoint, form outbox.EndpointInput, errs input.ValidationError, notice string) error {
	return h.renderEndpointPage(c, status, h.shell(c, "Webhook endpoint", views.NavWebhooks), ep, form, errs, notice)
}

// renderEndpointWithSecret is the endpoint's page with its new signing
// secret in the shown-once dialog, open as the page loads (Add endpoint
// and Rotate secret are full-page forms).
func (h *Handler) renderEndpointWithSecret(c echo.Context, ep *outbox.Endpoint, secret string, rotated bool) error {
	s := h.shell(c, "Webhook endpoint", views.NavWebhooks)
	s.OpenDialog = views.WebhookSecretDialog(*ep, secret, rotated)
	form := outbox.EndpointInput{URL: ep.URL, Description: ep.Description, Events: ep.Events()}
	return h.renderEndpointPage(c, http.StatusOK, s, ep, form, nil, "")
}

func (h *Handler) renderEndpointPage(c echo.Context, status int, s views.Shell, ep *outbox.Endpoint, form outbox.EndpointInput, errs input.ValidationError, notice string) error {
	ds, err := h.stores.Outbox.Deliveries(c.Request().Context(), principalOf(c).Program.ID, ep.ID, webhookDeliveryLogSize)
	if err != nil {
		return err
	}
	v := views.WebhookEndpointView{Endpoint: *ep, Form: form, Errors: errs, Deliveries: ds, Notice: notice}
	return render(c, status, views.WebhookEndpointPage(s, v))
}

// UpdateWebhook saves an endpoint's URL, description, events and enabled state.
func (h *Handler) UpdateWebhook(c echo.Context) error {
	ep, err := h.endpointParam(c)
	if err != nil {
		return err
	}
	form := endpointForm(c)
	_, err = h.stores.Outbox.UpdateEndpoint(c.Request().Context(), ep.ProgramID, actor(c), ep.ID, form, c.FormValue("enabled") == "true")
	var verr input.ValidationError
	if errors.As(err, &verr) {
		return h.renderEndpoint(c, http.StatusUnprocessableEntity, ep, form, verr, "")
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, routes.WebhookEndpoint(ep.ID)+"?done=saved")
}

// TestWebhook queues a webhook.test delivery to the endpoint.
func (h *Handler) TestWebhook(c echo.Context) error {
	ep, err := h.endpointParam(c)
	if err != nil {
		return err
	}
	if _, err := h.stores.Outbox.SendTest(c.Request().Context(), ep.ProgramID, actor(c), ep.ID); err != nil {
		return err
	}
	h.wake()
	return c.Redirect(http.StatusSeeOther, routes.WebhookEndpoint(ep.ID)+"?done=test")
}

// RotateWebhookSecret issues a new signing secret, shown once.
func (h *Handler) RotateWebhookSecret(c echo.Context) error {
	ep, err := h.endpointParam(c)
	if err != nil {
		return err
	}
	ep, secret, err := h.stores.Outbox.RotateSecret(c.Request().Context(), ep.ProgramID, actor(c), ep.ID)
	if err != nil {
		return err
	}
	return h.renderEndpointWithSecret(c, ep, secret, true)
}

// ConfirmDeleteWebhook asks before deleting an endpoint.
func (h *Handler) ConfirmDeleteWebhook(c echo.Context) error {
	ep, err := h.endpointParam(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.WebhookDeletePage(h.shell(c, "Delete endpoint", views.NavWebhooks), *ep))
}

// DeleteWebhook deletes an endpoint and its delivery log.
func (h *Handler) DeleteWebhook(c echo.Context) error {
	ep, err := h.endpointParam(c)
	if err != nil {
		return err
	}
	if _, err := h.stores.Outbox.DeleteEndpoint(c.Request().Context(), ep.ProgramID, actor(c), ep.ID); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, routes.Webhooks)
}

// WebhookDelivery shows one delivery's attempts in a dialog: each request
// as sent and the receiver's answer.
func (h *Handler) WebhookDelivery(c echo.Context) error {
	ep, id, err := h.deliveryParams(c)
	if err != nil {
		return err
	}
	d, attempts, err := h.stores.Outbox.DeliveryAttempts(c.Request().Context(), ep.ProgramID, ep.ID, id)
	if errors.Is(err, database.ErrNotFound) {
		return notFound()
	}
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.DeliveryAttemptsDialog(*d, attempts))
}

// RetryWebhookDelivery makes a delivery due now.
func (h *Handler) RetryWebhookDelivery(c echo.Context) error {
	ep, id, err := h.deliveryParams(c)
	if err != nil {
		return err
	}
	_, err = h.stores.Outbox.RetryNow(c.Request().Context(), ep.ProgramID, actor(c), ep.ID, id)
	if errors.Is(err, database.ErrNotFound) {
		return notFound()
	}
	if errors.Is(err, outbox.ErrAlreadyDelivered) {
		return c.Redirect(http.StatusSeeOther, routes.WebhookEndpoint(ep.ID)+"?done=delivered")
	}
	if errors.Is(err, outbox.ErrDeliveryInFlight) {
		return c.Redirect(http.StatusSeeOther, routes.WebhookEndpoint(ep.ID)+"?done=in-flight")
	}
	if err != nil {
		return err
	}
	h.wake()
	return c.Redirect(http.StatusSeeOther, routes.WebhookEndpoint(ep.ID)+"?done=retry")
}
