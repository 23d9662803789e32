package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"keydesk/models/outbox"
)

// Sign returns the webhook-signature header value for a message: one
// "v1,<base64>" per secret, space-separated (two during a rotation's
// overlap), as the Standard Webhooks spec lays down.
func Sign(secrets []string, msgID string, at time.Time, body []byte) (string, error) {
	sigs := make([]string, 0, len(secrets))
	for _, secret := range secrets {
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			return "", fmt.Errorf("notify: bad signing secret: %w", err)
		}
		sig, err := wh.Sign(msgID, at, body)
		if err != nil {
			return "", err
		}
		sigs = append(sigs, sig)
	}
	return strings.Join(sigs, " "), nil
}

// Send makes one attempt to deliver a claimed message: a POST of its
// payload with the webhook-id, webhook-timestamp and webhook-signature
// headers. A 2xx answer is success. Errors name the failure, never a
// secret or the response body. The result carries the request as sent
// (the body exactly as signed) and the answer's status, headers and first
// outbox.MaxKeptResponseBody bytes, for the endpoint's delivery log.
func Send(ctx context.Context, client *http.Client, c *outbox.Claim, now time.Time) outbox.Result {
	start := time.Now()
	body := []byte(c.Payload)
	res := outbox.Result{RequestBody: string(body)}
	sig, err := Sign(c.Secrets, c.MessageID, now, body)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		res.Error = "invalid URL"
		return res
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "keydesk-webhooks/1")
	req.Header.Set(standardwebhooks.HeaderWebhookID, c.MessageID)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)
	res.RequestHeaders = headerLines(req.Header, requestHeaderOrder)
	resp, err := client.Do(req)
	res.Duration = time.Since(start)
	if err != nil {
		res.Error = describeError(err)
		return res
	}
	kept, _ := io.ReadAll(io.LimitReader(resp.Body, outbox.MaxKeptResponseBody+1))
	if len(kept) > outbox.MaxKeptResponseBody {
		kept, res.ResponseBodyTruncated = kept[:outbox.MaxKeptResponseBody], true
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	res.ResponseBody = string(kept)
	res.ResponseHeaders = truncateText(headerLines(resp.Header, nil), outbox.MaxKeptResponseBody)
	res.ResponseCode = resp.StatusCode
	res.OK = resp.StatusCode >= 200 && resp.StatusCode < 300
	if !res.OK {
		res.Error = "receiver answered " + resp.Status
	}
	return res
}

// requestHeaderOrder is the order a delivery's request headers are listed in.
var requestHeaderOrder = []string{"Content-Type", "User-Agent", standardwebhooks.HeaderWebhookID,
	standardwebhooks.HeaderWebhookTimestamp, standardwebhooks.HeaderWebhookSignature}

// headerLines writes headers as "Name: value" lines, in order when given,
// else sorted by name.
func headerLines(h http.Header, order []string) string {
	if order == nil {
		for name := range h {
			order = append(order, name)
		}
		slices.Sort(order)
	}
	var b strings.Builder
	for _, name := range order {
		for _, v := range h.Values(name) {
			b.WriteString(http.CanonicalHeaderKey(name) + ": " + v + "\n")
		}
	}
	return b.String()
}

// truncateText cuts s to at most n bytes.
func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func describeError(err error) string {
	switch {
	case errors.Is(err, ErrForbiddenAddress):
		return "refused: the URL resolves to a private, loopback, link-local or metadata address"
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	}
	// url.Error repeats the URL; keep the cause.
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && len(msg) > 200 {
		msg = msg[i+2:]
	}
	return msg
}
