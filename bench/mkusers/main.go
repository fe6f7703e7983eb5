// Command mkusers creates numbered benchmark accounts directly in a
// Dormouse database (much faster than one CLI call per account):
//
//	go run ./bench/mkusers -storage sqlite:/tmp/bench/dormouse.db -domain localhost -n 10000
//
// Accounts are bench0..bench<n-1> with the password equal to the name.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/sql"
)

func main() {
	storage := flag.String("storage", "sqlite:dormouse-data/dormouse.db", "storage URL")
	domain := flag.String("domain", "localhost", "domain")
	prefix := flag.String("prefix", "bench", "localpart prefix")
	n := flag.Int("n", 1000, "number of accounts")
	flag.Parse()
	ctx := context.Background()
	st, err := sql.Open(ctx, *storage, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkusers:", err)
		os.Exit(1)
	}
	defer st.Close()
	jobs := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				name := fmt.Sprintf("%s%d", *prefix, i)
				c, err := auth.NewCredentials(name, 0)
				if err == nil {
					err = st.Accounts.CreateAccount(ctx, name+"@"+*domain, c)
				}
				if err != nil && !errors.Is(err, auth.ErrExists) {
					fmt.Fprintln(os.Stderr, "mkusers:", name, err)
					os.Exit(1)
				}
				if err == nil {
					mu.Lock()
					created++
					mu.Unlock()
				}
			}
		}()
	}
	for i := range *n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	fmt.Printf("created %d accounts (%s0..%s%d@%s)\n", created, *prefix, *prefix, *n-1, *domain)
}
