package hangar

// EventSystemMessage is a client event appending a mid-conversation system turn: privileged
// context for the turn it accompanies and every later one (docs/streaming.md). It must be
// the last event of its request and follow the user.message, user.tool_result or
// user.custom_tool_result it accompanies; only engines that can take a system turn accept
// it.
const EventSystemMessage = "system.message"
