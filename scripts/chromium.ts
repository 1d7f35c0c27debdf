// The headless Chromium every browser check launches (notebook HTML exports, JupyterLab, the web
// demo): Debian's binary unless CHROMIUM names another, with no sandbox (CI runs as root), no GPU and
// no background network traffic (the checks run offline and must see only the pages' own requests).
import { existsSync } from 'node:fs';

/** The browser binary: CHROMIUM, else Debian's. */
export const CHROMIUM_PATH = process.env.CHROMIUM ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** CHROMIUM_PATH, or an error saying how to install it. */
export function chromiumExecutable(): string {
  if (!existsSync(CHROMIUM_PATH))
    throw new Error(`${CHROMIUM_PATH} not found (apt-get install chromium, or set CHROMIUM)`);
  return CHROMIUM_PATH;
}
