// Package jit is the vocabulary of just-in-time access: who asks (Principal),
// for what (Entitlement), how it is granted (ActivationType, Activation) and
// under which rules (Policy). It exists so that every other package speaks
// the same validated types; it knows nothing of HTTP, Google APIs or I/O.
package jit
