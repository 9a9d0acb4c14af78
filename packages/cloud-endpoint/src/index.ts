export { ipFamily, normaliseHost, parseIpAddress } from './address.ts';
export { CloudChannel } from './channels.ts';
export {
  DEFAULT_DETECT_PROVIDERS,
  type DetectOptions,
  detect,
  METADATA_RESOLVERS,
  type MetadataProviderName,
} from './detect.ts';
export {
  CloudEndpointError,
  CloudEndpointErrorCode,
  type CloudEndpointErrorOptions,
  type CloudStep,
  isCloudEndpointError,
} from './errors.ts';
export {
  ALIBABA_METADATA_BASE_URL,
  ALIBABA_TOKEN_TTL_SECONDS,
  resolveAlibaba,
} from './providers/alibaba.ts';
export {
  AWS_IMDS_BASE_URL,
  AWS_IMDS_IPV6_BASE_URL,
  AWS_TOKEN_TTL_SECONDS,
  resolveAws,
} from './providers/aws.ts';
export {
  AZURE_IMDS_BASE_URL,
  AZURE_INSTANCE_API_VERSION,
  AZURE_LOADBALANCER_API_VERSION,
  resolveAzure,
} from './providers/azure.ts';
export { GCP_METADATA_BASE_URL, resolveGcp } from './providers/gcp.ts';
export {
  DEFAULT_GENERIC_SERVICES,
  GENERIC_TIMEOUT_MS,
  resolveGeneric,
} from './providers/generic.ts';
export {
  LINODE_METADATA_BASE_URL,
  LINODE_TOKEN_EXPIRY_SECONDS,
  resolveLinode,
} from './providers/linode.ts';
export { resolveTencent, TENCENT_METADATA_BASE_URL } from './providers/tencent.ts';
export {
  DEFAULT_STATIC_HOST,
  type EndpointProvider,
  PUBLIC_ENDPOINT_ENV,
  type PublicEndpoint,
  type PublicEndpointConfig,
  type PublicEndpointOptions,
  resolvePublicEndpoint,
} from './resolve.ts';
export {
  type CloudLogger,
  type FetchFunction,
  type GenericResolveOptions,
  PROVIDER_NAMES,
  type ProviderName,
  type PublicAddress,
  type ResolveOptions,
} from './types.ts';
