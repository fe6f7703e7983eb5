package main

import (
	"flag"
	"fmt"
)

// versionCommand: "dormouse version".
func versionCommand() command {
	return command{
		name: "version", summary: "print the version", noConfig: true,
		setup: func(*flag.FlagSet) runFunc {
			return func(inv *invocation) error {
				fmt.Fprintln(inv.stdout, "dormouse", version)
				return nil
			}
		},
	}
}
