.POSIX:

check:
	gofmt -l . && go vet ./...

test:
	go test -race -count=1 ./...

interop:
	bash interop/run.sh

ci:
	bash .ci/run
