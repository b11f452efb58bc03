// What `kubeadm init` creates for kubelet TLS bootstrap: the bootstrap token abcdef.0123456789abcdef and
// its two bindings (kubeadm:kubelet-bootstrap, kubeadm:node-autoapprove-bootstrap), through kubectl as
// the admin.
export const BOOTSTRAP_TOKEN = 'abcdef.0123456789abcdef'
const GROUP = 'system:bootstrappers:kubeadm:default-node-token'

export async function createKubeadmBootstrapToken(
  kubectl: (...args: string[]) => Promise<unknown>,
): Promise<void> {
  await kubectl(
    'create',
    'secret',
    'generic',
    'bootstrap-token-abcdef',
    '-n',
    'kube-system',
    '--type=bootstrap.kubernetes.io/token',
    '--from-literal=token-id=abcdef',
    '--from-literal=token-secret=0123456789abcdef',
    '--from-literal=usage-bootstrap-authentication=true',
    `--from-literal=auth-extra-groups=${GROUP}`,
  )
  await kubectl(
    'create',
    'clusterrolebinding',
    'kubeadm:kubelet-bootstrap',
    '--clusterrole=system:node-bootstrapper',
    `--group=${GROUP}`,
  )
  await kubectl(
    'create',
    'clusterrolebinding',
    'kubeadm:node-autoapprove-bootstrap',
    '--clusterrole=system:certificates.k8s.io:certificatesigningrequests:nodeclient',
    `--group=${GROUP}`,
  )
}
