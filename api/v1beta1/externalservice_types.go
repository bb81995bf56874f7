package v1beta1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ExternalService labels, annotations, condition types and reasons.
const (
	// ExternalServiceManagedBy is the endpointslice.kubernetes.io/managed-by
	// value on the EndpointSlices an ExternalService owns. A label value
	// cannot hold "/", so it follows Kubernetes' own
	// "endpointslice-controller.k8s.io" form.
	ExternalServiceManagedBy = "controller.portico.dev"
	// AnnotationAdopt set to "true" on an ExternalService lets it take over a
	// hand-written Service (keeping its ClusterIP) and Endpoints of its name.
	AnnotationAdopt = "portico.dev/adopt"

	// ConditionPrimaryElected is True while exactly one target of a Primary
	// ExternalService is published as the primary.
	ConditionPrimaryElected = "PrimaryElected"
	// ConditionEndpointsRefused is True while some target is refused by a
	// safety rule (loopback, link-local, a Service range, …); the message
	// names the address and the rule.
	ConditionEndpointsRefused = "EndpointsRefused"

	// ReasonHealthy: every target is healthy. ReasonPartlyHealthy: some are.
	// ReasonNoneHealthy: none is, so the Service has no ready endpoint.
	ReasonHealthy       = "Healthy"
	ReasonPartlyHealthy = "PartlyHealthy"
	ReasonNoneHealthy   = "NoneHealthy"
	// ReasonAuthFailed: a target refused the credentials from the Secret.
	ReasonAuthFailed = "AuthFailed"
	// ReasonSplitBrain: more than one target claims to be writable; the
	// current primary is kept.
	ReasonSplitBrain = "SplitBrain"
	// ReasonNoPrimary: no healthy target is writable.
	ReasonNoPrimary = "NoPrimary"
	// ReasonPrimaryElected: one target is the published primary.
	ReasonPrimaryElected = "Elected"
	// ReasonTargetRefused: a target is in a refused range.
	ReasonTargetRefused = "TargetRefused"
	// ReasonNoneRefused: no target is refused.
	ReasonNoneRefused = "NoneRefused"
	// ReasonResolveFailed: a DNS name does not resolve; its last addresses
	// are kept for a grace period.
	ReasonResolveFailed = "ResolveFailed"
	// ReasonCredentialsUnavailable: the credentials Secret is missing, not
	// labelled for use by Portico, or lacks a password; nothing is probed.
	ReasonCredentialsUnavailable = "CredentialsUnavailable"
	// LabelCredentials must be "true" on a Secret named by
	// spec.healthCheck.credentialsSecret: the Secret's owner consents to
	// Portico sending it to the ExternalService's targets, so that a user
	// who may create ExternalServices but not read Secrets cannot make
	// Portico log in with a Secret to a server of their choosing.
	LabelCredentials = "portico.dev/credentials"
	// LabelExternalService names the ExternalService that owns a Service,
	// EndpointSlice or Endpoints.
	LabelExternalService = "portico.dev/external-service"
	// ReasonNotOwned: a Service or Endpoints of this name exists that
	// Portico does not own; the message says how to adopt it.
	ReasonNotOwned = "NotOwned"
)

// HealthCheckType is the kind of probe run against every target.
// +kubebuilder:validation:Enum=TCP;MySQL;Redis;None
type HealthCheckType string

const (
	// HealthCheckTCP: a TCP connection opens.
	HealthCheckTCP HealthCheckType = "TCP"
	// HealthCheckMySQL: a MySQL/MariaDB protocol handshake succeeds and,
	// with credentials, @@read_only and @@super_read_only are read.
	HealthCheckMySQL HealthCheckType = "MySQL"
	// HealthCheckRedis: PING answers PONG and ROLE tells master or replica.
	HealthCheckRedis HealthCheckType = "Redis"
	// HealthCheckNone: every target is ready without probing.
	HealthCheckNone HealthCheckType = "None"
)

// Routing chooses which healthy targets receive traffic.
// +kubebuilder:validation:Enum=AllHealthy;Primary
type Routing string

const (
	// RoutingAllHealthy: every healthy target is ready.
	RoutingAllHealthy Routing = "AllHealthy"
	// RoutingPrimary: only the writable target is ready (Redis role master,
	// MySQL read_only=0 and super_read_only=0).
	RoutingPrimary Routing = "Primary"
)

// TargetHealth is the probed state of one address.
type TargetHealth string

const (
	// TargetPending: not yet enough probes to reach a threshold.
	TargetPending TargetHealth = "Pending"
	// TargetHealthy: healthyThreshold probes in a row succeeded.
	TargetHealthy TargetHealth = "Healthy"
	// TargetUnhealthy: unhealthyThreshold probes in a row failed.
	TargetUnhealthy TargetHealth = "Unhealthy"
	// TargetAuthFailed: the server answers but refuses the credentials.
	TargetAuthFailed TargetHealth = "AuthFailed"
	// TargetRefused: the address is in a refused range and is never probed.
	TargetRefused TargetHealth = "Refused"
)

// TargetRole is what a database target says it is.
type TargetRole string

const (
	// RoleUnknown: not probed for a role (TCP, None, MySQL without credentials) or not known yet.
	RoleUnknown TargetRole = "Unknown"
	// RolePrimary: writable (Redis master; MySQL read_only=0 and super_read_only=0).
	RolePrimary TargetRole = "Primary"
	// RoleReplica: read-only.
	RoleReplica TargetRole = "Replica"
)

// ExternalServiceSpec describes a service that lives outside the cluster.
// Rules that call duration() test the syntax first, so a malformed value gets
// the field's own syntax message instead of a CEL evaluation error.
// +kubebuilder:validation:XValidation:rule=`!has(self.routing) || self.routing != 'Primary' || (has(self.healthCheck.type) && self.healthCheck.type in ['MySQL', 'Redis'])`,message="spec.routing: Primary needs spec.healthCheck.type MySQL or Redis, the probes that tell a writable instance from a replica",fieldPath=".routing"
// +kubebuilder:validation:XValidation:rule=`!has(self.routing) || self.routing != 'Primary' || !has(self.healthCheck.type) || self.healthCheck.type != 'MySQL' || has(self.healthCheck.credentialsSecret)`,message="spec.healthCheck.credentialsSecret is required when spec.routing is Primary and spec.healthCheck.type is MySQL: reading @@read_only needs a login",fieldPath=".healthCheck.credentialsSecret"
// +kubebuilder:validation:XValidation:rule=`(has(self.healthCheck.type) && self.healthCheck.type == 'None') || self.ports.size() == 0 || !has(self.ports[0].protocol) || self.ports[0].protocol == 'TCP'`,message="spec.ports[0].protocol must be TCP when spec.healthCheck.type is TCP, MySQL or Redis: the probe connects to the first port over TCP",fieldPath=".ports"
// +kubebuilder:validation:XValidation:rule=`self.ports.size() == 1 || !has(self.endpoints) || self.endpoints.all(e, !has(e.port))`,message="spec.endpoints[].port is allowed only when spec.ports has exactly one entry (it replaces that port's targetPort)",fieldPath=".endpoints"
type ExternalServiceSpec struct {
	// Ports are the ports of the Service, as in a Service's spec.ports.
	// Probes connect to the first one (to its targetPort, or to the
	// endpoint's own port).
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:XValidation:rule=`self.size() == 1 || self.all(p, has(p.name))`,message="spec.ports[].name is required when there is more than one port"
	// +kubebuilder:validation:XValidation:rule=`self.all(p, !has(p.name) || self.exists_one(q, has(q.name) && q.name == p.name))`,message="spec.ports[].name must be unique"
	// +kubebuilder:validation:XValidation:rule=`self.all(p, self.exists_one(q, q.port == p.port && (has(q.protocol) ? q.protocol : 'TCP') == (has(p.protocol) ? p.protocol : 'TCP')))`,message="spec.ports[].port must be unique per protocol"
	Ports []ExternalServicePort `json:"ports"`
	// Endpoints are the hosts behind the Service: IPv4 or IPv6 literals or
	// DNS names. Every address a name resolves to is probed and published
	// separately. Targets in loopback, link-local, unspecified or multicast
	// ranges, the cluster's Service ranges and the configured pod and node
	// ranges are refused.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=2000
	Endpoints []ExternalEndpoint `json:"endpoints"`
	// HealthCheck is how every target is probed.
	// +optional
	// +kubebuilder:default={}
	HealthCheck HealthCheck `json:"healthCheck,omitzero"`
	// Routing chooses which healthy targets are ready: AllHealthy (every
	// healthy one) or Primary (only the writable one, by the MySQL or Redis
	// probe; never two at once).
	// +optional
	// +kubebuilder:default=AllHealthy
	Routing Routing `json:"routing,omitempty"`
	// Headless makes the owned Service headless (clusterIP: None), so DNS
	// returns the ready targets' addresses instead of one ClusterIP.
	// +optional
	Headless bool `json:"headless,omitempty"`
	// EndpointsObject also keeps a core/v1 Endpoints of the same name in
	// step with the EndpointSlices, for consumers that still read the
	// deprecated API (ready targets in addresses, the others in
	// notReadyAddresses).
	// +optional
	EndpointsObject bool `json:"endpointsObject,omitempty"`
}

// ExternalServicePort is one port of the owned Service.
type ExternalServicePort struct {
	// Name of the port, a DNS label; required when there is more than one port.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule=`self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')`,messageExpression=`'spec.ports[].name: "' + self + '" is not a port name (lower-case letters, digits and "-", starting and ending with a letter or digit)'`
	Name string `json:"name,omitempty"`
	// Port is the Service's port, 1 to 65535.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`
	// Protocol is TCP, UDP or SCTP.
	// +optional
	// +kubebuilder:default=TCP
	// +kubebuilder:validation:Enum=TCP;UDP;SCTP
	Protocol corev1.Protocol `json:"protocol,omitempty"`
	// TargetPort is the port on the targets, 1 to 65535. Unset means port.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	TargetPort int32 `json:"targetPort,omitempty"`
}

// ExternalEndpoint is one host behind the Service.
type ExternalEndpoint struct {
	// Address is an IPv4 or IPv6 address (no zone) or a DNS name, which is
	// resolved to A and AAAA records and re-resolved on their TTL.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule=`isIP(self) || !self.matches('^[0-9.]+$')`,messageExpression=`'spec.endpoints[].address: "' + self + '" looks like an IPv4 address but is not one (four numbers 0 to 255, no leading zeros)'`
	// +kubebuilder:validation:XValidation:rule=`isIP(self) || !self.contains(':')`,messageExpression=`'spec.endpoints[].address: "' + self + '" looks like an IPv6 address but is not one (zones and IPv4-mapped IPv6 are not allowed)'`
	// +kubebuilder:validation:XValidation:rule=`isIP(self) || self.contains(':') || self.matches('^[0-9.]+$') || self.matches('^([A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?[.])*[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?[.]?$')`,messageExpression=`'spec.endpoints[].address: "' + self + '" is neither an IP address nor a DNS name (labels of letters, digits and "-", separated by ".")'`
	// +kubebuilder:validation:XValidation:rule=`!isIP(self) || ip(self).isGlobalUnicast()`,messageExpression=`'spec.endpoints[].address: ' + self + ' is a loopback, link-local, unspecified, multicast or broadcast address, which Portico never targets'`
	Address string `json:"address"`
	// Port replaces the targetPort of the only port for this host (allowed
	// only when spec.ports has one entry), 1 to 65535.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`
}

// HealthCheck is how targets are probed. A target becomes healthy after
// healthyThreshold successes in a row and unhealthy after
// unhealthyThreshold failures in a row.
// +kubebuilder:validation:XValidation:rule=`!has(self.interval) || !has(self.timeout) || !self.interval.matches('^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$') || !self.timeout.matches('^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$') || duration(self.timeout) < duration(self.interval)`,message="spec.healthCheck.timeout must be less than spec.healthCheck.interval (defaults: timeout 1s, interval 5s)",fieldPath=".timeout"
// +kubebuilder:validation:XValidation:rule=`!has(self.credentialsSecret) || (has(self.type) && self.type in ['MySQL', 'Redis'])`,message="spec.healthCheck.credentialsSecret is allowed only with spec.healthCheck.type MySQL or Redis",fieldPath=".credentialsSecret"
type HealthCheck struct {
	// Type is the probe: TCP (a connection opens), MySQL (a protocol
	// handshake and, with credentials, @@read_only), Redis (PING and ROLE)
	// or None (every target is ready).
	// +optional
	// +kubebuilder:default=TCP
	Type HealthCheckType `json:"type,omitempty"`
	// Interval between two probes of one target, 1s to 1h.
	// +optional
	// +kubebuilder:default="5s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule=`self.matches('^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$')`,messageExpression=`'spec.healthCheck.interval: "' + self + '" is not a duration such as 5s or 1m'`
	// +kubebuilder:validation:XValidation:rule=`!self.matches('^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$') || (duration(self) >= duration('1s') && duration(self) <= duration('1h'))`,messageExpression=`'spec.healthCheck.interval: ' + self + ' is out of range; use 1s to 1h'`
	Interval metav1.Duration `json:"interval,omitzero"`
	// Timeout of one probe, 100ms or more and less than interval.
	// +optional
	// +kubebuilder:default="1s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule=`self.matches('^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$')`,messageExpression=`'spec.healthCheck.timeout: "' + self + '" is not a duration such as 1s or 500ms'`
	// +kubebuilder:validation:XValidation:rule=`!self.matches('^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$') || duration(self) >= duration('100ms')`,messageExpression=`'spec.healthCheck.timeout: ' + self + ' is too short; use 100ms or more'`
	Timeout metav1.Duration `json:"timeout,omitzero"`
	// HealthyThreshold is how many successful probes in a row make a target
	// healthy, 1 to 100.
	// +optional
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	HealthyThreshold int32 `json:"healthyThreshold,omitempty"`
	// UnhealthyThreshold is how many failed probes in a row make a target
	// unhealthy, 1 to 100.
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	UnhealthyThreshold int32 `json:"unhealthyThreshold,omitempty"`
	// CredentialsSecret names a Secret in the ExternalService's own namespace
	// (other namespaces cannot be named) with the keys "username" (optional
	// for Redis, which then uses AUTH with the password alone) and
	// "password", for example of type kubernetes.io/basic-auth. The Secret
	// must carry the label portico.dev/credentials: "true", its owner's
	// consent to Portico sending it to this ExternalService's targets.
	// Allowed only with type MySQL or Redis.
	// +optional
	CredentialsSecret *LocalSecretReference `json:"credentialsSecret,omitempty"`
}

// LocalSecretReference names a Secret in the referring object's namespace.
type LocalSecretReference struct {
	// Name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule=`self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')`,messageExpression=`'spec.healthCheck.credentialsSecret.name: "' + self + '" is not a Secret name (lower-case letters, digits, "-" and ".", starting and ending with a letter or digit)'`
	Name string `json:"name"`
}

// ExternalServiceStatus reports every target and the conditions.
type ExternalServiceStatus struct {
	// ObservedGeneration is the metadata.generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready (some target is ready), PrimaryElected (Primary
	// routing: one target is published as primary), EndpointsRefused (some
	// target is in a refused range).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// ReadyTargets is how many targets are ready (published as ready in the
	// EndpointSlices).
	// +optional
	ReadyTargets int32 `json:"readyTargets,omitempty"`
	// Primary is the address of the published primary (Primary routing).
	// +optional
	Primary string `json:"primary,omitempty"`
	// Endpoints reports each entry of spec.endpoints, in the same order.
	// +optional
	// +listType=atomic
	Endpoints []ExternalEndpointStatus `json:"endpoints,omitempty"`
}

// ExternalEndpointStatus is the state of one entry of spec.endpoints.
type ExternalEndpointStatus struct {
	// Address as written in spec.endpoints (an IP literal or a DNS name).
	// +required
	Address string `json:"address"`
	// Port probed on its targets.
	// +optional
	Port int32 `json:"port,omitempty"`
	// ResolvedAt is when a DNS name last resolved.
	// +optional
	ResolvedAt *metav1.Time `json:"resolvedAt,omitempty"`
	// Message says what is wrong with the entry as a whole, for example a
	// name that no longer resolves whose last addresses are kept until a
	// stated time.
	// +optional
	Message string `json:"message,omitempty"`
	// Targets are the addresses the entry stands for (one for a literal,
	// each resolved address for a name), each probed separately.
	// +optional
	// +listType=atomic
	Targets []TargetStatus `json:"targets,omitempty"`
}

// TargetStatus is the probed state of one address.
type TargetStatus struct {
	// IP is the target's address.
	// +required
	IP string `json:"ip"`
	// Health is Pending, Healthy, Unhealthy, AuthFailed or Refused.
	// +required
	Health TargetHealth `json:"health"`
	// Role is Primary, Replica or Unknown.
	// +optional
	Role TargetRole `json:"role,omitempty"`
	// Ready is true when the target is published as ready.
	// +optional
	Ready bool `json:"ready,omitempty"`
	// LastProbeTime is when the last probe finished, as of the last status
	// change: status is written on transitions only, never once per probe.
	// +optional
	LastProbeTime *metav1.Time `json:"lastProbeTime,omitempty"`
	// Latency of the last probe, as of the last status change.
	// +optional
	Latency *metav1.Duration `json:"latency,omitempty"`
	// LastError is the error of the last failed probe, or why the target is
	// refused.
	// +optional
	LastError string `json:"lastError,omitempty"`
}

// ExternalService publishes hosts outside the cluster (databases, typically)
// behind a selectorless Service of the same name whose EndpointSlices list
// the healthy hosts (or only the writable one), kept true by probes.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,categories=portico,shortName=extsvc
// +kubebuilder:validation:XValidation:rule=`self.metadata.name.size() <= 63 && self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')`,message="metadata.name must be a DNS label starting with a letter (at most 63 lower-case letters, digits and \"-\"): it names the owned Service"
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`,description="True when some target is ready"
// +kubebuilder:printcolumn:name="Ready-Targets",type=integer,JSONPath=`.status.readyTargets`,description="Targets published as ready"
// +kubebuilder:printcolumn:name="Primary",type=string,JSONPath=`.status.primary`,description="The published primary (Primary routing)"
// +kubebuilder:printcolumn:name="Check",type=string,JSONPath=`.spec.healthCheck.type`,priority=1,description="Health check type"
// +kubebuilder:printcolumn:name="Routing",type=string,JSONPath=`.spec.routing`,priority=1,description="AllHealthy or Primary"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ExternalService struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the service to publish and how to check it.
	Spec ExternalServiceSpec `json:"spec"`
	// Status reports every target, written by the controller.
	// +optional
	Status ExternalServiceStatus `json:"status,omitempty"`
}

// ExternalServiceList is a list of ExternalService.
//
// +kubebuilder:object:root=true
type ExternalServiceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ExternalService `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ExternalService{}, &ExternalServiceList{})
}
