package mapping

import (
	"sync"

	"hemopa/rules"
)

// testCat is the built-in policy catalog the tests map against.
var testCat = sync.OnceValue(func() *rules.Catalog {
	c, err := rules.Load(rules.Builtin())
	if err != nil {
		panic(err)
	}
	return c
})
