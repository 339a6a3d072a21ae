package dmf

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// actionPath is where the package API's bound actions live (dmf-api.md §0, §2.1).
const actionPath = "/data/DataManagementDefinitionGroups/Microsoft.Dynamics.DataEntities."

// action POSTs params to the named DMF action and returns the response body.
func (c *Client) action(ctx context.Context, name string, params any, policy retryPolicy, timeout time.Duration) ([]byte, error) {
	body, err := json.Marshal(params)
	if err != nil {
		return nil, fmt.Errorf("%s: encoding parameters: %w", name, err)
	}
	newBody, size := bytesBody(body)
	resp, err := c.do(ctx, &request{
		op:      name,
		method:  http.MethodPost,
		url:     c.opts.BaseURL + actionPath + name,
		header:  jsonHeader(),
		body:    newBody,
		size:    size,
		auth:    true,
		limited: true,
		policy:  policy,
		timeout: timeout,
	})
	if err != nil {
		return nil, err
	}
	return resp.body, nil
}

// unwrapValue returns the "value" of an OData primitive-value response, descending
// into {"value": {"value": ...}} as often as it is nested: the docs show the nested
// form for some actions, real environments send the flat one (§2.1).
func unwrapValue(body []byte) (json.RawMessage, error) {
	var env struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("decoding response: %w", err)
	}
	if env.Value == nil {
		return nil, fmt.Errorf("response has no value member")
	}
	v := env.Value
	for {
		t := bytes.TrimSpace(v)
		if len(t) == 0 || t[0] != '{' {
			return v, nil
		}
		var inner struct {
			Value json.RawMessage `json:"value"`
		}
		if json.Unmarshal(t, &inner) != nil || inner.Value == nil {
			return v, nil
		}
		v = inner.Value
	}
}

// valueString reads a string value; null reads as "".
func valueString(body []byte) (string, error) {
	v, err := unwrapValue(body)
	if err != nil {
		return "", err
	}
	if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", fmt.Errorf("value is not a string: %s", truncate(string(v)))
	}
	return s, nil
}

// valueBool reads a boolean value, also accepting "true"/"false" as strings.
func valueBool(body []byte) (bool, error) {
	v, err := unwrapValue(body)
	if err != nil {
		return false, err
	}
	var b bool
	if json.Unmarshal(v, &b) == nil {
		return b, nil
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		if b, err := strconv.ParseBool(s); err == nil {
			return b, nil
		}
	}
	return false, fmt.Errorf("value is not a boolean: %s", truncate(string(v)))
}

// stringAction calls an action whose value is a string.
func (c *Client) stringAction(ctx context.Context, name string, params any) (string, error) {
	body, err := c.action(ctx, name, params, retryAll, c.opts.RequestTimeout)
	if err != nil {
		return "", err
	}
	s, err := valueString(body)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return s, nil
}

// flexBool is a boolean that may arrive as a JSON bool or as "true"/"false".
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	var v bool
	if json.Unmarshal(data, &v) == nil {
		*b = flexBool(v)
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("not a boolean: %s", data)
	}
	v, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil && s != "" {
		return fmt.Errorf("not a boolean: %q", s)
	}
	*b = flexBool(v)
	return nil
}
