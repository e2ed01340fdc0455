package pluginpb

import "testing"

// Every mode and reason goes to the wire and back as the word users see.
func TestEnumWords(t *testing.T) {
	for _, word := range []string{"refresh", "init"} {
		if m := ModeOf(word); m == Mode_MODE_UNSPECIFIED || m.Word() != word {
			t.Errorf("ModeOf(%q) = %v, Word %q", word, m, m.Word())
		}
	}
	for _, word := range []string{"NEW", "EXPIRES", "PARAMS_CHANGE", "FORCE_REFRESH", "IS_GOOD"} {
		if r := UpdateReasonOf(word); r == UpdateReason_UPDATE_REASON_UNSPECIFIED || r.Word() != word {
			t.Errorf("UpdateReasonOf(%q) = %v, Word %q", word, r, r.Word())
		}
	}
	if ModeOf("daemon") != Mode_MODE_UNSPECIFIED || Mode_MODE_UNSPECIFIED.Word() != "" {
		t.Error("an unknown mode is not unspecified")
	}
	if UpdateReasonOf("") != UpdateReason_UPDATE_REASON_UNSPECIFIED || UpdateReason_UPDATE_REASON_UNSPECIFIED.Word() != "" {
		t.Error("no reason is not unspecified")
	}
}
