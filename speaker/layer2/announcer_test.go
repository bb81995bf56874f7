package layer2_test

import (
	"github.com/portico-lb/portico/speaker"
	"github.com/portico-lb/portico/speaker/layer2"
)

// Responders are the speaker's layer-2 announcer.
var _ speaker.Announcer = (*layer2.Responders)(nil)
