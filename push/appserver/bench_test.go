package appserver_test

import (
	"fmt"
	"testing"

	"dormouse.im/dormouse/internal/routertest"
	"dormouse.im/dormouse/stanza"
)

// BenchmarkPublish measures sustained pushes through one app server: 64
// publishes in flight to 256 devices, each checked against the store, sent
// to the loopback FCM (answering at once) and its result recorded.
func BenchmarkPublish(b *testing.B) {
	e := newEnv(b)
	const devices, inFlight = 256, 64
	iqs := make([]*stanza.Stanza, devices)
	for i := range devices {
		node, secret := e.registerP2(alice, "fcm", fmt.Sprintf("tok-%d", i), fmt.Sprintf("dev-%d", i))
		iqs[i] = routertest.Parse(b, publishIQ("b", "example.org", node, secret, "New message"))
	}
	sem := make(chan struct{}, inFlight)
	done := make(chan struct{})
	go func() {
		for st := range e.out {
			if st.Type != stanza.TypeResult {
				b.Errorf("publish failed: %s", st)
			}
			<-sem
		}
		close(done)
	}()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sem <- struct{}{}
		if err := e.svc.HandleStanza(b.Context(), iqs[i%devices]); err != nil {
			b.Fatal(err)
		}
	}
	for range inFlight {
		sem <- struct{}{}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pushes/s")
	close(e.out)
	<-done
}
