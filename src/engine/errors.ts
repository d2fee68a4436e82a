// The engine's face of the user-facing error type (defined at the bottom layer, in util/).
export { TlcError, fmtShape } from '../util/errors.js';
