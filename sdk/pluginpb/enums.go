package pluginpb

import "strings"

// ModeOf returns the Mode a word names: "refresh" or "init";
// MODE_UNSPECIFIED for any other.
func ModeOf(word string) Mode {
	return Mode(Mode_value["MODE_"+strings.ToUpper(word)])
}

// Word is the mode's word, "refresh" or "init", as the command line and
// the status report spell it; "" when unspecified.
func (m Mode) Word() string {
	if m == Mode_MODE_UNSPECIFIED {
		return ""
	}
	return strings.ToLower(strings.TrimPrefix(m.String(), "MODE_"))
}

// UpdateReasonOf returns the UpdateReason a word names: NEW, EXPIRES,
// PARAMS_CHANGE, FORCE_REFRESH or IS_GOOD; UPDATE_REASON_UNSPECIFIED for
// any other.
func UpdateReasonOf(word string) UpdateReason {
	return UpdateReason(UpdateReason_value["UPDATE_REASON_"+word])
}

// Word is the reason's word, as the status report and the metrics spell
// it: NEW, EXPIRES, ...; "" when unspecified.
func (r UpdateReason) Word() string {
	if r == UpdateReason_UPDATE_REASON_UNSPECIFIED {
		return ""
	}
	return strings.TrimPrefix(r.String(), "UPDATE_REASON_")
}
