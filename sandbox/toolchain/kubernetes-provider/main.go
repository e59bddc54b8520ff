// Command pulumi-resource-kubernetes serves the Kubernetes provider with the
// schema committed in the provider module (copied next to this file as
// schema-embed.json by sandbox/build-toolchain.sh; it is not committed here).
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var pulumiSchema []byte

func main() {
	provider.Serve("kubernetes", version.Version, pulumiSchema, []byte("{}"))
}
