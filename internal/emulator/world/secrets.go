package world

import "strconv"

// AddSecret adds a version to a secret ("projects/P/secrets/S"), creating
// the secret if needed, and returns the version's number.
func (w *World) AddSecret(secret string, data []byte) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.secrets == nil {
		w.secrets = map[string][][]byte{}
	}
	w.secrets[secret] = append(w.secrets[secret], append([]byte(nil), data...))
	return len(w.secrets[secret])
}

// SecretVersion returns a version of a secret ("latest" or a number from
// 1) and its number.
func (w *World) SecretVersion(secret, version string) ([]byte, int, bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	versions := w.secrets[secret]
	if len(versions) == 0 {
		return nil, 0, false
	}
	n := len(versions)
	if version != "latest" {
		v, err := strconv.Atoi(version)
		if err != nil || v < 1 || v > len(versions) {
			return nil, 0, false
		}
		n = v
	}
	return append([]byte(nil), versions[n-1]...), n, true
}
