package appserver

import (
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
)

// ParseRequest runs the parsers of HandleStanza on an IQ payload: publish
// for pubsub, command and registration form for commands. It returns
// whether the payload was accepted.
func ParseRequest(p *xml.Element) bool {
	switch p.Name {
	case xml.Name{Space: NSPubSub, Local: "pubsub"}:
		_, err := parsePublish(p)
		return err == nil
	case xml.Name{Space: NSCommands, Local: "command"}:
		cmd, err := parseCommand(p)
		if err != nil {
			return false
		}
		var serr *stanza.Error
		if cmd.hasForm {
			_, serr = registrationRequest(cmd)
		}
		return serr == nil
	}
	return false
}
