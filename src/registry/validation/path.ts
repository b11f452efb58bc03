// field.Path rendering: "spec.containers[0].ports[1]", "metadata.labels[app]".
export const child = (path: string, ...names: string[]) =>
  [path, ...names].filter((p) => p !== '').join('.')
export const index = (path: string, i: number) => `${path}[${i}]`
export const key = (path: string, k: string) => `${path}[${k}]`
