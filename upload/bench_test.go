package upload

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// zeros is an endless reader of zero bytes that holds no buffer.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// BenchmarkUploadParallel: 20 clients each PUT a 1 or 10 MiB file over TLS
// (HTTP/2) at once, per iteration; MB/s is the aggregate throughput and
// peak-heap-MiB the largest heap growth seen while the uploads ran (it
// must not grow with the file size: bodies are streamed to disk).
func BenchmarkUploadParallel(b *testing.B) {
	for _, mib := range []int{1, 10} {
		b.Run(fmt.Sprintf("%dMiB", mib), func(b *testing.B) { benchUpload(b, mib<<20) })
	}
}

func benchUpload(b *testing.B, size int) {
	const parallel = 20
	h := &harness{r: &fakeRouter{}, clk: &clock{now: time.Now()}, dir: b.TempDir()}
	h.srv = httptest.NewUnstartedServer(nil)
	h.srv.EnableHTTP2 = true
	svc, err := New(context.Background(), Config{
		Domain: "upload.example.org", MaxFileSize: int64(size), Secret: []byte("s"),
		BaseURL: func(string) string { return "https://" + h.srv.Listener.Addr().String() },
		Now:     time.Now,
	}, DiskStore{Dir: h.dir}, h.r, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	h.svc = svc
	h.srv.Config.Handler = svc.Handler()
	h.srv.StartTLS()
	defer h.srv.Close()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}}

	var base runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
		}
	}()
	b.SetBytes(int64(size) * parallel)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		var wg sync.WaitGroup
		errs := make(chan error, parallel)
		for j := range parallel {
			p, _, err := h.slot(nil, fmt.Sprintf("u%d@example.org/r", j), fmt.Sprintf("f%d-%d.bin", i, j), size, "application/octet-stream")
			if err != nil {
				b.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest(http.MethodPut, p, io.LimitReader(zeros{}, int64(size)))
				req.ContentLength = int64(size)
				req.Header.Set("Content-Type", "application/octet-stream")
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					errs <- fmt.Errorf("PUT: %s", resp.Status)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	close(stop)
	<-sampled
	if p := peak.Load(); p > base.HeapInuse {
		b.ReportMetric(float64(p-base.HeapInuse)/(1<<20), "peak-heap-MiB")
	}
}
