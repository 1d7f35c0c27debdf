// Types of build-gradients.mjs (a plain script, so that npm install can run it without tsx).
export const gradientsFile: string;
export function buildGradients(): Promise<string>;
