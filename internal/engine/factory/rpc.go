package factory

import "encoding/json"

// apiVersion is the factoryApiVersion of the JSON-RPC messages Hangar sends.
const apiVersion = "1.0.0"

// The IDs of Hangar's requests in a turn: droid answers each with a response of that ID.
const (
	reqSession   = "hangar_session"   // droid.initialize_session
	reqLoad      = "hangar_load"      // droid.load_session
	reqTitle     = "hangar_title"     // droid.rename_session
	reqMessage   = "hangar_message"   // droid.add_user_message
	reqInterrupt = "hangar_interrupt" // droid.interrupt_session
)

// request returns the line of a JSON-RPC request to droid.
func request(id, method string, params any) []byte {
	b, err := json.Marshal(map[string]any{
		"jsonrpc": "2.0", "factoryApiVersion": apiVersion, "type": "request",
		"id": id, "method": method, "params": params,
	})
	if err != nil {
		panic("factory: encode request: " + err.Error()) // params are maps of strings
	}
	return append(b, '\n')
}
