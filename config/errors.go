package config

import "errors"

// Error is a configuration error. Key names the offending setting by its TOML
// path ("c2s.max_stanza_size", "components.secrets"), or is the name of the
// environment variable for an unknown DORMOUSE_ variable, or is empty for
// errors about the file as a whole (it cannot be read or parsed).
type Error struct {
	Key string // TOML path of the setting, the variable name, or ""
	Msg string // what is wrong, for the operator
	Err error  // underlying error, if any; returned by Unwrap
}

// Error implements error: "config: KEY: MSG".
func (e *Error) Error() string {
	if e.Key == "" {
		return "config: " + e.Msg
	}
	return "config: " + e.Key + ": " + e.Msg
}

// Unwrap returns the underlying error, if any.
func (e *Error) Unwrap() error { return e.Err }

// IsConfigError reports whether err is, wraps or joins a configuration
// error (*Error), as opposed to an unrelated failure.
func IsConfigError(err error) bool {
	var e *Error
	return errors.As(err, &e)
}
