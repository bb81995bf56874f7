package v1beta1_test

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	apiextensionsinternal "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel/model"
	"k8s.io/apimachinery/pkg/util/version"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/cel/environment"
	"sigs.k8s.io/yaml"
)

// oldestKubernetes is the oldest release the CRDs install on: an API server
// compiles new CEL rules with the previous release's libraries, and the IP
// and CIDR libraries arrived in 1.30.
var oldestKubernetes = version.MajorMinor(1, 31)

// loadCRDs reads the generated CRDs from deploy/crd/bases.
func loadCRDs(t *testing.T) map[string]*apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "deploy", "crd", "bases", "*.yaml"))
	if err != nil || len(files) != 6 {
		t.Fatalf("want the 6 generated CRDs in deploy/crd/bases, found %v (%v)", files, err)
	}
	out := map[string]*apiextensionsv1.CustomResourceDefinition{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict(b, &crd); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[crd.Spec.Names.Kind] = &crd
	}
	return out
}

// TestEveryFieldIsDocumented walks every schema: each field needs a
// description, which is what `kubectl explain` prints.
func TestEveryFieldIsDocumented(t *testing.T) {
	for kind, crd := range loadCRDs(t) {
		var walk func(path string, s *apiextensionsv1.JSONSchemaProps)
		walk = func(path string, s *apiextensionsv1.JSONSchemaProps) {
			for name, p := range s.Properties {
				// kubectl explain documents metadata from ObjectMeta itself.
				if p.Description == "" && !(path == kind && name == "metadata") {
					t.Errorf("%s: %s.%s has no description", kind, path, name)
				}
				walk(path+"."+name, &p)
			}
			if s.Items != nil && s.Items.Schema != nil {
				walk(path+"[]", s.Items.Schema)
			}
		}
		for _, v := range crd.Spec.Versions {
			walk(kind, v.Schema.OpenAPIV3Schema)
		}
	}
}

// TestRulesFitOldestKubernetes compiles every CEL rule the way an API server
// of oldestKubernetes does and checks the static cost budgets, which the
// apiserver enforces when the CRD is installed: per rule (times how often a
// list can repeat it) and per CRD.
func TestRulesFitOldestKubernetes(t *testing.T) {
	env := environment.MustBaseEnvSet(version.MajorMinor(oldestKubernetes.Major(), oldestKubernetes.Minor()-1))
	for kind, crd := range loadCRDs(t) {
		var internal apiextensionsinternal.CustomResourceDefinition
		if err := apiextensionsv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(crd, &internal, nil); err != nil {
			t.Fatal(err)
		}
		internal.Status.StoredVersions = []string{"v1beta1"}
		for _, err := range validation.ValidateCustomResourceDefinition(t.Context(), &internal) {
			t.Errorf("%s: %v", kind, err)
		}
		var total uint64
		validations := []*apiextensionsinternal.CustomResourceValidation{internal.Spec.Validation}
		for _, v := range internal.Spec.Versions {
			validations = append(validations, v.Schema)
		}
		for _, v := range validations {
			if v == nil {
				continue // the internal form keeps a schema shared by all versions in Spec.Validation
			}
			s, err := schema.NewStructural(v.OpenAPIV3Schema)
			if err != nil {
				t.Fatal(err)
			}
			var walk func(path string, s *schema.Structural, cardinality uint64)
			walk = func(path string, s *schema.Structural, cardinality uint64) {
				// Only the resource root gets apiVersion, kind and metadata, as
				// in the API server; a list given them would not be a list.
				results, err := cel.Compile(s, model.SchemaDeclType(s, path == kind), celconfig.PerCallLimit, env, cel.NewExpressionsEnvLoader())
				if err != nil {
					t.Fatalf("%s: %s: %v", kind, path, err)
				}
				for i, r := range results {
					if r.Error != nil {
						t.Errorf("%s: %s rule %d does not compile for Kubernetes %s: %v", kind, path, i, oldestKubernetes, r.Error)
						continue
					}
					cost := (r.MaxCost + r.MessageExpressionMaxCost) * cardinality
					if cost > validation.StaticEstimatedCostLimit {
						t.Errorf("%s: %s rule %d costs %d, over the per-rule limit %d", kind, path, i, cost, validation.StaticEstimatedCostLimit)
					}
					total += cost
				}
				for _, name := range slices.Sorted(maps.Keys(s.Properties)) {
					p := s.Properties[name]
					walk(path+"."+name, &p, cardinality)
				}
				if s.Items != nil {
					if len(s.Items.XValidations) > 0 && (s.ValueValidation == nil || s.ValueValidation.MaxItems == nil) {
						t.Errorf("%s: %s has CEL rules on its items but no maxItems", kind, path)
						return
					}
					n := uint64(1)
					if s.ValueValidation != nil && s.ValueValidation.MaxItems != nil {
						n = uint64(*s.ValueValidation.MaxItems)
					}
					walk(path+"[]", s.Items, cardinality*n)
				}
			}
			walk(kind, s, 1)
		}
		if total > validation.StaticEstimatedCRDCostLimit {
			t.Errorf("%s: rules cost %d in all, over the CRD limit %d", kind, total, validation.StaticEstimatedCRDCostLimit)
		}
		t.Logf("%s: estimated cost of all rules %d (limit %d)", kind, total, validation.StaticEstimatedCRDCostLimit)
	}
}

// TestBFDExplain checks that `kubectl explain bgppeer.spec.bfd` states what
// the speaker's BFD does not do and which ports it uses, since a router
// configured for echo mode, authentication or the other hop count never
// brings the session up.
func TestBFDExplain(t *testing.T) {
	crd := loadCRDs(t)["BGPPeer"]
	bfd := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["bfd"]
	for _, want := range []string{
		"asynchronous mode", "no echo mode", "no authentication",
		"single", "3784", "TTL 255", "ebgpMultiHop", "RFC 5883", "4784",
		"BFD goes Down the BGP session is brought down",
		"does not come up while its BFD session is Down",
		"Absent means no BFD",
	} {
		if !strings.Contains(strings.Join(strings.Fields(bfd.Description), " "), want) {
			t.Errorf("spec.bfd description lacks %q:\n%s", want, bfd.Description)
		}
	}
	for field, want := range map[string]string{
		"receiveInterval":  "Empty means 300ms",
		"transmitInterval": "Empty means 300ms",
		"detectMultiplier": "Empty means 3",
	} {
		if d := strings.Join(strings.Fields(bfd.Properties[field].Description), " "); !strings.Contains(d, want) {
			t.Errorf("spec.bfd.%s description lacks %q:\n%s", field, want, d)
		}
	}
}
