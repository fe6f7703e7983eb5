package auth

// SASL failure conditions of RFC 6120 §6.5, the values of Failure.Condition.
// Server produces ConditionIncorrectEncoding, ConditionInvalidAuthzid,
// ConditionInvalidMechanism, ConditionMalformedRequest,
// ConditionNotAuthorized and ConditionTemporaryAuthFailure; the others are
// listed for callers (for example ConditionAborted answers <abort/>, and
// ConditionEncryptionRequired a PLAIN attempt on a stream without TLS).
const (
	ConditionAborted              = "aborted"
	ConditionAccountDisabled      = "account-disabled"
	ConditionCredentialsExpired   = "credentials-expired"
	ConditionEncryptionRequired   = "encryption-required"
	ConditionIncorrectEncoding    = "incorrect-encoding"
	ConditionInvalidAuthzid       = "invalid-authzid"
	ConditionInvalidMechanism     = "invalid-mechanism"
	ConditionMalformedRequest     = "malformed-request"
	ConditionMechanismTooWeak     = "mechanism-too-weak"
	ConditionNotAuthorized        = "not-authorized"
	ConditionTemporaryAuthFailure = "temporary-auth-failure"
)

// Failure is a failed SASL exchange.
//
// Condition is the RFC 6120 §6.5 condition, the name of the child element of
// <failure/>. Text, possibly empty, is a human-readable description that may
// be sent to the client in <text/>. Err, possibly nil, is the underlying
// cause (such as a storage error); it is meant for logs and must not be sent
// to the client.
//
// A wrong password and an unknown user give equal Failures (condition
// not-authorized, no text, no cause), so that neither the client nor a log
// line built from Error reveals whether the account exists.
type Failure struct {
	Condition string
	Text      string
	Err       error
}

// Error returns "auth: " followed by the condition, the text and the cause.
func (f *Failure) Error() string {
	s := "auth: " + f.Condition
	if f.Text != "" {
		s += ": " + f.Text
	}
	if f.Err != nil {
		s += ": " + f.Err.Error()
	}
	return s
}

// Unwrap returns f.Err.
func (f *Failure) Unwrap() error { return f.Err }
