//go:build !unix

package pas

import "time"

func processCPU() time.Duration { return 0 }
