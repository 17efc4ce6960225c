package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/nacos-group/nacos-sdk-go/v2/clients/naming_client"
	"github.com/nacos-group/nacos-sdk-go/v2/model"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"
)

// downstreamCaller calls GET /hello on a healthy instance of one service,
// picked by the SDK's weighted random choice, retrying on another instance
// when an attempt fails.
type downstreamCaller struct {
	naming      naming_client.INamingClient
	service     string
	group       string
	maxAttempts int           // attempts in all, first one included
	timeout     time.Duration // per attempt: connect + response
	backoffBase time.Duration // wait before attempt n+1: base*2^(n-1) + jitter in [0, base*2^(n-1))
	http        *http.Client
	log         *slog.Logger
}

func newDownstreamCaller(naming naming_client.INamingClient, service, group string, timeout time.Duration, log *slog.Logger) *downstreamCaller {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext
	tr.MaxIdleConnsPerHost = 16
	return &downstreamCaller{
		naming:      naming,
		service:     service,
		group:       group,
		maxAttempts: 3,
		timeout:     timeout,
		backoffBase: 100 * time.Millisecond,
		http:        &http.Client{Transport: tr, Timeout: timeout},
		log:         log,
	}
}

type callFailure struct {
	Instance string `json:"instance,omitempty"`
	Error    string `json:"error"`
}

type callResult struct {
	Via        string          `json:"via"`
	Attempts   int             `json:"attempts"`
	Downstream json.RawMessage `json:"downstream"`
}

type callError struct {
	Error    string        `json:"error"`
	Service  string        `json:"service"`
	Attempts int           `json:"attempts"`
	Failures []callFailure `json:"failures"`
}

// Call makes up to maxAttempts attempts. Each picks an instance with
// SelectOneHealthyInstance; if that instance already failed in this call and
// another healthy one exists, it picks (weighted) among the others instead.
// Between attempts it waits an exponential backoff with jitter.
func (c *downstreamCaller) Call(ctx context.Context) (*callResult, *callError) {
	failed := map[string]bool{}
	var failures []callFailure
	for attempt := 1; attempt <= c.maxAttempts; attempt++ {
		if attempt > 1 {
			wait := backoff(c.backoffBase, attempt-1)
			c.log.Debug("call: backing off", "downstream", c.service, "attempt", attempt, "wait", wait)
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				failures = append(failures, callFailure{Error: "request cancelled: " + ctx.Err().Error()})
				return nil, &callError{Error: "cancelled", Service: c.service, Attempts: attempt - 1, Failures: failures}
			}
		}

		inst, err := c.pick(failed)
		if err != nil {
			c.log.Warn("call: no instance to call", "downstream", c.service, "attempt", attempt, "err", errLine(err))
			failures = append(failures, callFailure{Error: "select instance: " + errLine(err)})
			continue
		}
		addr := net.JoinHostPort(inst.Ip, strconv.FormatUint(inst.Port, 10))
		body, err := c.hello(ctx, addr)
		if err != nil {
			c.log.Warn("call: attempt failed", "downstream", c.service, "instance", addr, "attempt", attempt, "err", err)
			failed[addr] = true
			failures = append(failures, callFailure{Instance: addr, Error: err.Error()})
			continue
		}
		c.log.Debug("call: ok", "downstream", c.service, "instance", addr, "attempt", attempt)
		return &callResult{Via: addr, Attempts: attempt, Downstream: body}, nil
	}
	return nil, &callError{
		Error:    fmt.Sprintf("every attempt to call %s failed", c.service),
		Service:  c.service,
		Attempts: c.maxAttempts,
		Failures: failures,
	}
}

func (c *downstreamCaller) pick(failed map[string]bool) (*model.Instance, error) {
	inst, err := c.naming.SelectOneHealthyInstance(vo.SelectOneHealthInstanceParam{
		ServiceName: c.service,
		GroupName:   c.group,
	})
	if err != nil {
		return nil, err
	}
	if !failed[instAddr(*inst)] {
		return inst, nil
	}
	// The SDK picked one that already failed: choose among the others.
	all, err := c.naming.SelectInstances(vo.SelectInstancesParam{
		ServiceName: c.service,
		GroupName:   c.group,
		HealthyOnly: true,
	})
	if err != nil {
		return inst, nil
	}
	var others []model.Instance
	total := 0.0
	for _, in := range all {
		if !failed[instAddr(in)] {
			others = append(others, in)
			total += in.Weight
		}
	}
	if len(others) == 0 {
		return inst, nil // nothing else is healthy: try the same one again
	}
	r := rand.Float64() * total
	for i := range others {
		r -= others[i].Weight
		if r < 0 {
			return &others[i], nil
		}
	}
	return &others[len(others)-1], nil
}

func instAddr(in model.Instance) string {
	return net.JoinHostPort(in.Ip, strconv.FormatUint(in.Port, 10))
}

// hello calls GET http://addr/hello and returns its JSON body. Anything but a
// 200 with a JSON body is a failure.
func (c *downstreamCaller) hello(ctx context.Context, addr string) (json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/hello", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	if !json.Valid(body) {
		return nil, errors.New("response is not JSON")
	}
	return json.RawMessage(body), nil
}

// backoff is the wait after the n-th failed attempt (n >= 1): base*2^(n-1)
// plus a random jitter of up to the same amount.
func backoff(base time.Duration, n int) time.Duration {
	d := base << (n - 1)
	return d + time.Duration(rand.Int64N(int64(d)))
}
