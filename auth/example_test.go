package auth_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"dormouse.im/dormouse/auth"
	"mellium.im/sasl"
)

// Example runs a SCRAM-SHA-256 login the way a stream handler would, with
// throttling, and mellium.im/sasl as the client.
func Example() {
	creds, err := auth.NewCredentials("correct horse", 0)
	if err != nil {
		panic(err)
	}
	lookup := func(_ context.Context, username string) (auth.Credentials, error) {
		if username == "alice" { // the account alice@example.org
			return creds, nil
		}
		return auth.Credentials{}, auth.ErrNotFound
	}
	throttle := auth.NewThrottle(auth.ThrottleConfig{}, nil)
	ip := netip.MustParseAddr("192.0.2.1")

	srv, err := auth.NewServer(auth.ScramSHA256, lookup,
		auth.Domain("example.org"),
		auth.Secret([]byte("a persisted random server secret")),
		auth.BeforeVerify(func(ctx context.Context, user string) error {
			t := time.NewTimer(throttle.Delay(ip, user))
			defer t.Stop()
			select {
			case <-t.C:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}),
	)
	if err != nil {
		panic(err)
	}

	client := sasl.NewClient(sasl.ScramSha256, sasl.Credentials(func() (Username, Password, Identity []byte) {
		return []byte("Alice"), []byte("correct horse"), nil
	}))
	_, msg, _ := client.Step(nil) // sent base64-encoded in <auth/>
	for {
		data, done, err := srv.Step(context.Background(), msg)
		var f *auth.Failure
		if errors.As(err, &f) {
			if f.Condition == auth.ConditionNotAuthorized {
				throttle.Failure(ip, srv.Authcid())
			}
			fmt.Println("<failure><" + f.Condition + "/></failure>")
			return
		}
		if done {
			throttle.Success(ip, srv.Username())
			if _, _, err := client.Step(data); err != nil { // data goes in <success/>
				fmt.Println("client:", err)
				return
			}
			fmt.Println("authenticated as", srv.Username()+"@example.org")
			return
		}
		_, msg, _ = client.Step(data) // data goes in <challenge/>, msg in <response/>
	}
	// Output: authenticated as alice@example.org
}
