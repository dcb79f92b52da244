// The components' look, themable with CSS variables (no CSS framework). Put zsaCss in a
// stylesheet, or render <ZsaStyles/> once (an inline <style>: a strict CSP needs its hash).
import { zsaCss } from './css';

export { zsaCss };

export function ZsaStyles() {
  return <style>{zsaCss}</style>;
}
