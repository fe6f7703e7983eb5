package main

import (
	"flag"
	"fmt"
	"strings"
)

// helpCommand: "dormouse help [COMMAND]".
func helpCommand() command {
	return command{
		name: "help", args: "[COMMAND]", summary: "list the commands, or describe one",
		maxArgs: 2, noConfig: true,
		setup: func(*flag.FlagSet) runFunc {
			return func(inv *invocation) error {
				if len(inv.args) == 0 {
					usage(inv.stdout)
					return nil
				}
				// One command, or every command of a group ("help user").
				name := strings.Join(inv.args, " ")
				found := false
				for _, c := range commands() {
					if c.name == name || strings.HasPrefix(c.name, name+" ") {
						if found {
							fmt.Fprintln(inv.stdout)
						}
						fs, _, _ := c.flags(inv.stderr)
						c.help(inv.stdout, fs)
						found = true
					}
				}
				if !found {
					return usageErrorf("unknown command %q", name)
				}
				return nil
			}
		},
	}
}
