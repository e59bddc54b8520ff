// Package prov is a small framework for the sandbox's own resource providers.
// It speaks the raw Pulumi provider gRPC protocol (pulumirpc) from
// github.com/pulumi/pulumi/sdk/v3, so it needs nothing beyond the SDK.
//
// Values reach resources as plain Go values (map[string]any, []any, string,
// float64, bool, nil, Unknown{} for computed values, *Asset for assets and
// archives). Secret inputs are unwrapped; outputs whose name matches a secret
// input are marked secret again.
package prov

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// Unknown stands for a value not known yet (during preview).
type Unknown struct{}

// Asset is an asset or archive input, reduced to what the sandbox uses.
type Asset struct {
	Path string // file asset / file archive path
	Text string // string asset
	URI  string // remote asset (unsupported for copying)
	Hash string
	IsArchive bool
	Assets map[string]*Asset // asset archive members
}

// Failure is a Check failure.
type Failure struct{ Property, Reason string }

// Resource implements one resource type.
type Resource interface {
	// Check validates the inputs and applies defaults.
	Check(news map[string]any) (map[string]any, []Failure)
	// Diff returns the changed input keys and those of them that force replacement.
	Diff(id string, olds, news map[string]any) (changed, replaces []string)
	Create(ctx context.Context, urn string, inputs map[string]any) (string, map[string]any, error)
	Update(ctx context.Context, urn, id string, olds, news map[string]any) (map[string]any, error)
	Delete(ctx context.Context, urn, id string, olds map[string]any) error
}

// Provider serves a set of resource types.
type Provider struct {
	pulumirpc.UnimplementedResourceProviderServer
	Name      string
	Version   string
	Resources map[string]Resource // by type token
}

// Serve runs the provider's gRPC server and prints its port, as the engine expects.
func Serve(p *Provider) {
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterResourceProviderServer(srv, p)
			return nil
		},
		Options: rpcutil.OpenTracingServerInterceptorOptions(nil),
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-%s: %v\n", p.Name, err)
		os.Exit(1)
	}
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-%s: %v\n", p.Name, err)
		os.Exit(1)
	}
}

func (p *Provider) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: p.Version}, nil
}

func (p *Provider) GetSchema(context.Context, *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	return &pulumirpc.GetSchemaResponse{Schema: fmt.Sprintf(`{"name":%q,"version":%q}`, p.Name, p.Version)}, nil
}

func (p *Provider) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (p *Provider) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

func (p *Provider) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true, SupportsPreview: false, AcceptResources: true}, nil
}

func (p *Provider) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

func (p *Provider) Invoke(_ context.Context, req *pulumirpc.InvokeRequest) (*pulumirpc.InvokeResponse, error) {
	return nil, status.Errorf(codes.Unimplemented, "%s: function %s is not implemented by the sandbox provider", p.Name, req.GetTok())
}

func (p *Provider) resource(urn string) (Resource, error) {
	t := string(resource.URN(urn).Type())
	r, ok := p.Resources[t]
	if !ok {
		return nil, status.Errorf(codes.Unimplemented, "%s: resource type %s is not implemented by the sandbox provider", p.Name, t)
	}
	return r, nil
}

func (p *Provider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	r, err := p.resource(req.GetUrn())
	if err != nil {
		return nil, err
	}
	news, secrets, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	ins, failures := r.Check(news)
	out, err := marshal(ins, secrets)
	if err != nil {
		return nil, err
	}
	resp := &pulumirpc.CheckResponse{Inputs: out}
	for _, f := range failures {
		resp.Failures = append(resp.Failures, &pulumirpc.CheckFailure{Property: f.Property, Reason: f.Reason})
	}
	return resp, nil
}

func (p *Provider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	r, err := p.resource(req.GetUrn())
	if err != nil {
		return nil, err
	}
	olds, _, err := unmarshal(req.GetOldInputs())
	if err != nil {
		return nil, err
	}
	if len(olds) == 0 {
		olds, _, err = unmarshal(req.GetOlds())
		if err != nil {
			return nil, err
		}
	}
	oldState, _, err := unmarshal(req.GetOlds())
	if err != nil {
		return nil, err
	}
	for k, v := range oldState { // state outputs (e.g. validity times) for renewal checks
		if _, ok := olds[k]; !ok {
			olds["__state_"+k] = v
		}
	}
	news, _, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	changed, replaces := r.Diff(req.GetId(), olds, news)
	if len(changed) == 0 && len(replaces) == 0 {
		return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
	}
	resp := &pulumirpc.DiffResponse{
		Changes:         pulumirpc.DiffResponse_DIFF_SOME,
		Diffs:           changed,
		Replaces:        replaces,
		DetailedDiff:    map[string]*pulumirpc.PropertyDiff{},
		HasDetailedDiff: true,
	}
	rep := map[string]bool{}
	for _, k := range replaces {
		rep[k] = true
	}
	for _, k := range changed {
		kind := pulumirpc.PropertyDiff_UPDATE
		_, inOld := olds[k]
		_, inNew := news[k]
		switch {
		case !inOld && inNew:
			kind = pulumirpc.PropertyDiff_ADD
		case inOld && !inNew:
			kind = pulumirpc.PropertyDiff_DELETE
		}
		if rep[k] {
			kind += 1 // ADD_REPLACE, DELETE_REPLACE, UPDATE_REPLACE follow their plain kinds
		}
		resp.DetailedDiff[k] = &pulumirpc.PropertyDiff{Kind: kind, InputDiff: true}
	}
	return resp, nil
}

func (p *Provider) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	r, err := p.resource(req.GetUrn())
	if err != nil {
		return nil, err
	}
	ins, secrets, err := unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	id, outs, err := r.Create(ctx, req.GetUrn(), ins)
	if err != nil {
		return nil, err
	}
	props, err := marshal(merge(ins, outs), secrets)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: props}, nil
}

func (p *Provider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	// State lives in the stack; reading returns it unchanged.
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
}

func (p *Provider) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	r, err := p.resource(req.GetUrn())
	if err != nil {
		return nil, err
	}
	olds, _, err := unmarshal(req.GetOlds())
	if err != nil {
		return nil, err
	}
	news, secrets, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	outs, err := r.Update(ctx, req.GetUrn(), req.GetId(), olds, news)
	if err != nil {
		return nil, err
	}
	props, err := marshal(merge(news, outs), secrets)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: props}, nil
}

func (p *Provider) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	r, err := p.resource(req.GetUrn())
	if err != nil {
		return nil, err
	}
	olds, _, err := unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, r.Delete(ctx, req.GetUrn(), req.GetId(), olds)
}

func merge(a, b map[string]any) map[string]any {
	m := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		m[k] = v
	}
	for k, v := range b {
		m[k] = v
	}
	return m
}

// ---------------------------------------------------------------- values

func unmarshal(s *structpb.Struct) (map[string]any, map[string]bool, error) {
	pm, err := plugin.UnmarshalProperties(s, plugin.MarshalOptions{
		KeepUnknowns: true, KeepSecrets: true, KeepResources: false, SkipNulls: true,
	})
	if err != nil {
		return nil, nil, err
	}
	out := map[string]any{}
	secrets := map[string]bool{}
	for k, v := range pm {
		if containsSecret(v) {
			secrets[string(k)] = true
		}
		out[string(k)] = plain(v)
	}
	return out, secrets, nil
}

func containsSecret(v resource.PropertyValue) bool {
	switch {
	case v.IsSecret():
		return true
	case v.IsArray():
		for _, e := range v.ArrayValue() {
			if containsSecret(e) {
				return true
			}
		}
	case v.IsObject():
		for _, e := range v.ObjectValue() {
			if containsSecret(e) {
				return true
			}
		}
	case v.IsOutput():
		return v.OutputValue().Secret
	}
	return false
}

func plain(v resource.PropertyValue) any {
	switch {
	case v.IsNull():
		return nil
	case v.IsBool():
		return v.BoolValue()
	case v.IsNumber():
		return v.NumberValue()
	case v.IsString():
		return v.StringValue()
	case v.IsArray():
		a := []any{}
		for _, e := range v.ArrayValue() {
			a = append(a, plain(e))
		}
		return a
	case v.IsObject():
		m := map[string]any{}
		for k, e := range v.ObjectValue() {
			if e.IsNull() {
				continue
			}
			m[string(k)] = plain(e)
		}
		return m
	case v.IsSecret():
		return plain(v.SecretValue().Element)
	case v.IsComputed():
		return Unknown{}
	case v.IsOutput():
		o := v.OutputValue()
		if !o.Known {
			return Unknown{}
		}
		return plain(o.Element)
	case v.IsAsset():
		a := v.AssetValue()
		return &Asset{Path: a.Path, Text: a.Text, URI: a.URI, Hash: a.Hash}
	case v.IsArchive():
		a := v.ArchiveValue()
		r := &Asset{Path: a.Path, URI: a.URI, Hash: a.Hash, IsArchive: true}
		if a.Assets != nil {
			r.Assets = map[string]*Asset{}
			for name, m := range a.Assets {
				switch x := m.(type) {
				case *resource.Asset:
					r.Assets[name] = &Asset{Path: x.Path, Text: x.Text, URI: x.URI, Hash: x.Hash}
				case *resource.Archive:
					r.Assets[name] = &Asset{Path: x.Path, URI: x.URI, Hash: x.Hash, IsArchive: true}
				}
			}
		}
		return r
	}
	return nil
}

func toPV(v any) resource.PropertyValue {
	switch x := v.(type) {
	case nil:
		return resource.NewNullProperty()
	case Unknown:
		return resource.MakeComputed(resource.NewStringProperty(""))
	case bool:
		return resource.NewBoolProperty(x)
	case float64:
		return resource.NewNumberProperty(x)
	case int:
		return resource.NewNumberProperty(float64(x))
	case string:
		return resource.NewStringProperty(x)
	case []any:
		a := make([]resource.PropertyValue, 0, len(x))
		for _, e := range x {
			a = append(a, toPV(e))
		}
		return resource.NewArrayProperty(a)
	case []string:
		a := make([]resource.PropertyValue, 0, len(x))
		for _, e := range x {
			a = append(a, resource.NewStringProperty(e))
		}
		return resource.NewArrayProperty(a)
	case map[string]any:
		m := resource.PropertyMap{}
		for k, e := range x {
			m[resource.PropertyKey(k)] = toPV(e)
		}
		return resource.NewObjectProperty(m)
	case *Asset:
		if x.IsArchive {
			if x.Path != "" {
				a, err := resource.NewPathArchive(x.Path)
				if err == nil {
					return resource.NewArchiveProperty(a)
				}
			}
			return resource.NewArchiveProperty(&resource.Archive{Path: x.Path, URI: x.URI, Hash: x.Hash})
		}
		return resource.NewAssetProperty(&resource.Asset{Path: x.Path, Text: x.Text, URI: x.URI, Hash: x.Hash,
			Sig: resource.AssetSig})
	}
	return resource.NewStringProperty(fmt.Sprint(v))
}

func marshal(m map[string]any, secrets map[string]bool) (*structpb.Struct, error) {
	pm := resource.PropertyMap{}
	for k, v := range m {
		pv := toPV(v)
		if secrets[k] && !pv.IsNull() {
			pv = resource.MakeSecret(pv)
		}
		pm[resource.PropertyKey(k)] = pv
	}
	return plugin.MarshalProperties(pm, plugin.MarshalOptions{
		KeepUnknowns: true, KeepSecrets: true, SkipNulls: true,
	})
}

// ---------------------------------------------------------------- helpers

// ChangedKeys lists the keys whose values differ between olds and news,
// looking only at keys (inputs) that are named in keys.
func ChangedKeys(olds, news map[string]any, keys []string) []string {
	var changed []string
	for _, k := range keys {
		o, n := olds[k], news[k]
		if !reflect.DeepEqual(o, n) || hasUnknown(n) {
			changed = append(changed, k)
		}
	}
	sort.Strings(changed)
	return changed
}

func hasUnknown(v any) bool {
	switch x := v.(type) {
	case Unknown:
		return true
	case []any:
		for _, e := range x {
			if hasUnknown(e) {
				return true
			}
		}
	case map[string]any:
		for _, e := range x {
			if hasUnknown(e) {
				return true
			}
		}
	}
	return false
}

// Str returns m[k] as a string ("" if absent or not a string).
func Str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// Num returns m[k] as a float64 (def if absent).
func Num(m map[string]any, k string, def float64) float64 {
	if f, ok := m[k].(float64); ok {
		return f
	}
	return def
}

// Bool returns m[k] as a bool (def if absent).
func Bool(m map[string]any, k string, def bool) bool {
	if b, ok := m[k].(bool); ok {
		return b
	}
	return def
}

// Strs returns m[k] as a []string.
func Strs(m map[string]any, k string) []string {
	a, _ := m[k].([]any)
	var out []string
	for _, e := range a {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// Obj returns m[k] as a map.
func Obj(m map[string]any, k string) map[string]any {
	o, _ := m[k].(map[string]any)
	return o
}

// RandomID returns a random hex id with a prefix.
func RandomID(prefix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// URNName returns the resource name part of a URN.
func URNName(urn string) string {
	if i := strings.LastIndex(urn, "::"); i >= 0 {
		return urn[i+2:]
	}
	return urn
}
