package reliabilitytest

import (
	"context"
	"sync/atomic"
)

type contextT = context.Context

func nextID(n *int64) int64 { return atomic.AddInt64(n, 1) }
