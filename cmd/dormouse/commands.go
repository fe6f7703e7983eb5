package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"dormouse.im/dormouse/config"
)

// A command is one leaf of the command line: "serve", "user add". Each
// lives in a file of its own and is listed in commands.
type command struct {
	name    string // words after "dormouse": "user add"
	args    string // synopsis of the arguments and own flags: "JID PASSWORD"
	summary string // one line for the command list
	// minArgs and maxArgs bound the positional arguments (maxArgs -1: any).
	minArgs, maxArgs int
	// noConfig: the command takes no -config and runs without loading the
	// configuration.
	noConfig bool
	// setup declares the command's own flags on fs (if any) and returns the
	// function that runs it once the command line is parsed.
	setup func(fs *flag.FlagSet) runFunc
}

// runFunc runs a command. An error is printed as "dormouse NAME: err"; it
// exits with exitConfig if it is a usage error (see usageErrorf), else
// exitFail. A function that printed its own message returns errQuiet.
type runFunc func(inv *invocation) error

// invocation is what a command runs with.
type invocation struct {
	cfg            config.Config // loaded and valid (unless noConfig)
	args           []string      // positional arguments
	stdout, stderr io.Writer
	environ        []string
}

// commands lists every command, in the order of the help text.
func commands() []command {
	return []command{
		serveCommand(),
		userAddCommand(),
		userPasswdCommand(),
		userDelCommand(),
		userListCommand(),
		dbMigrateCommand(),
		mamPurgeCommand(),
		pushAppAddCommand(),
		pushAppListCommand(),
		pushAppRemoveCommand(),
		pushTestCommand(),
		pushDevicesCommand(),
		appServerCommand(),
		clusterStatusCommand(),
		s2sCheckCommand(),
		s2sStatusCommand(),
		versionCommand(),
		helpCommand(),
	}
}

// usageError is a mistake on the command line (exit status 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// errQuiet: the command already printed why it failed.
var errQuiet = errors.New("failed")

// run is main without the process: it returns the exit code.
func run(args []string, stdout, stderr io.Writer, environ []string) int {
	if len(args) > 0 && isHelpFlag(args[0]) {
		usage(stdout)
		return exitOK
	}
	cmds := commands()
	// The command is the longest sequence of leading words naming one;
	// with none (no arguments, or a flag first), it is serve.
	words := leadingWords(args)
	if len(words) == 0 {
		words = []string{"serve"}
		args = append([]string{"serve"}, args...)
	}
	var cmd *command
	for i := len(words); i > 0 && cmd == nil; i-- {
		name := strings.Join(words[:i], " ")
		for j := range cmds {
			if cmds[j].name == name {
				cmd = &cmds[j]
				args = args[i:]
				break
			}
		}
	}
	if cmd == nil {
		return unknownCommand(cmds, words, stderr)
	}
	return cmd.run(args, stdout, stderr, environ)
}

// leadingWords returns the arguments before the first flag.
func leadingWords(args []string) []string {
	for i, a := range args {
		if strings.HasPrefix(a, "-") {
			return args[:i]
		}
	}
	return args
}

func isHelpFlag(s string) bool {
	return s == "-h" || s == "-help" || s == "--help"
}

// unknownCommand explains a command line that names no command: an unknown
// command, or a group ("user") without or with an unknown subcommand.
func unknownCommand(cmds []command, words []string, stderr io.Writer) int {
	var subs []string
	for _, c := range cmds {
		if group, sub, ok := strings.Cut(c.name, " "); ok && group == words[0] {
			subs = append(subs, sub)
		}
	}
	switch {
	case len(subs) == 0:
		fmt.Fprintf(stderr, "dormouse: unknown command %q\n\n", words[0])
		usage(stderr)
	case len(words) == 1:
		fmt.Fprintf(stderr, "dormouse %s: want %s\n", words[0], orList(subs))
	default:
		fmt.Fprintf(stderr, "dormouse %s: unknown subcommand %q (want %s)\n", words[0], words[1], orList(subs))
	}
	return exitConfig
}

// orList writes "a, b or c".
func orList(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// flags returns the command's flag set and its runner.
func (c *command) flags(stderr io.Writer) (*flag.FlagSet, *string, runFunc) {
	fs := flag.NewFlagSet("dormouse "+c.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var path *string
	if !c.noConfig {
		path = fs.String("config", "", "configuration `FILE` (TOML)")
	}
	f := c.setup(fs)
	fs.Usage = func() { c.help(fs.Output(), fs) }
	return fs, path, f
}

// run parses the command line (flags before or after the arguments), loads
// the configuration and runs the command.
func (c *command) run(args []string, stdout, stderr io.Writer, environ []string) int {
	fs, path, f := c.flags(stderr)
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		c.help(stdout, fs)
		return exitOK
	}
	if err != nil {
		return exitConfig // the flag package printed it and the usage
	}
	if len(pos) < c.minArgs || (c.maxArgs >= 0 && len(pos) > c.maxArgs) {
		fmt.Fprintf(stderr, "dormouse %s: wrong number of arguments\n\n", c.name)
		c.help(stderr, fs)
		return exitConfig
	}
	inv := &invocation{args: pos, stdout: stdout, stderr: stderr, environ: environ}
	if !c.noConfig {
		inv.cfg, err = config.Load(*path, environ)
		if err != nil {
			fmt.Fprintf(stderr, "dormouse: invalid configuration:\n%v\n", err)
			return exitConfig
		}
	}
	err = f(inv)
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errQuiet):
		return exitFail
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "dormouse %s: %v\n", c.name, err)
		return exitConfig
	}
	fmt.Fprintf(stderr, "dormouse %s: %v\n", c.name, err)
	return exitFail
}

// parseInterspersed parses flags anywhere among the arguments and returns
// the positional ones. "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" && !flagTakesValue(fs, args, n-1) {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// flagTakesValue reports whether args[i] is the separate value of the flag
// args[i-1] ("-user --").
func flagTakesValue(fs *flag.FlagSet, args []string, i int) bool {
	if i == 0 {
		return false
	}
	name := strings.TrimLeft(args[i-1], "-")
	if strings.Contains(name, "=") || !strings.HasPrefix(args[i-1], "-") {
		return false
	}
	f := fs.Lookup(name)
	if f == nil {
		return false
	}
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return !ok || !b.IsBoolFlag()
}

// help prints the command's synopsis and flags.
func (c *command) help(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: dormouse %s\n\n%s.\n", c.synopsis(), capitalize(c.summary))
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprint(w, "\nFlags (before or after the arguments):\n")
		out := fs.Output()
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(out)
	}
}

// synopsis is the command line of c, with -config if it takes one.
func (c *command) synopsis() string {
	s := c.short()
	if !c.noConfig {
		s += " [-config FILE]"
	}
	return s
}

// short is the command line of c without -config.
func (c *command) short() string {
	if c.args == "" {
		return c.name
	}
	return c.name + " " + c.args
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// usage lists every command.
func usage(w io.Writer) {
	const maxWidth = 32
	cmds := commands()
	width := 0
	for _, c := range cmds {
		if n := len(c.short()); n <= maxWidth {
			width = max(width, n)
		}
	}
	fmt.Fprint(w, "Usage: dormouse COMMAND [ARGUMENTS] [FLAGS]\n\nCommands:\n")
	for _, c := range cmds {
		if len(c.short()) > width {
			fmt.Fprintf(w, "  dormouse %s\n  %-*s  %s\n", c.short(), width+9, "", c.summary)
			continue
		}
		fmt.Fprintf(w, "  dormouse %-*s  %s\n", width, c.short(), c.summary)
	}
	fmt.Fprint(w, `
Flags go before or after the arguments. Every command except version and
help takes -config FILE. "dormouse help COMMAND" or "dormouse COMMAND -h"
describes one command.

Configuration: a TOML file (-config) and DORMOUSE_<SECTION>_<KEY> environment
variables; with neither, the server serves "localhost" with data in
./dormouse-data.
`)
}
