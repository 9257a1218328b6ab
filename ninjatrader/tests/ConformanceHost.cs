// Test host for the protocol client under Mono: the real ExecutorSession and HubConnection against the real hub,
// with a broker that asks the Python test (which plays the exchange) over stdin/stdout, one JSON object per line.
//   stdout: {"op":"place"|"cancel"|"flatten"|"positions"|"account", "id":N, ...}   requests to the exchange
//           {"op":"status","text":...}                                                connection changes
//   stdin:  {"op":"result","id":N, ...}  answers;  {"op":"event","kind":"fill"|"order"|"position", ...}  reports
//           {"op":"drop"}  abort the socket;  {"op":"quit"}
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Threading;
using EnigmaApex.Protocol;

public sealed class StdioBroker : IBroker
{
    readonly object gate = new object();
    readonly Dictionary<long, Dictionary<string, object>> answers = new Dictionary<long, Dictionary<string, object>>();
    readonly List<string> accounts;
    long next;

    public StdioBroker(IEnumerable<string> accounts) { this.accounts = new List<string>(accounts); }

    public IList<string> Accounts() { return accounts; }

    public void Answer(Dictionary<string, object> answer)
    {
        lock (gate)
        {
            answers[(long)Json.Dec(answer, "id").Value] = answer;
            Monitor.PulseAll(gate);
        }
    }

    Dictionary<string, object> Ask(Dictionary<string, object> request)
    {
        long id;
        lock (gate) id = ++next;
        request["id"] = id;
        Program.Out(request);
        lock (gate)
        {
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (!answers.ContainsKey(id))
            {
                if (DateTime.UtcNow > deadline) throw new TimeoutException("the exchange did not answer");
                Monitor.Wait(gate, 1000);
            }
            var answer = answers[id];
            answers.Remove(id);
            return answer;
        }
    }

    static BrokerResult Result(Dictionary<string, object> answer)
    {
        object accepted;
        answer.TryGetValue("accepted", out accepted);
        return new BrokerResult(accepted is bool && (bool)accepted, Json.Str(answer, "reason"));
    }

    public BrokerResult Place(OrderCommand o)
    {
        var order = new Dictionary<string, object>
        {
            { "key", o.Key }, { "account", o.Account }, { "symbol", o.Symbol }, { "side", o.Side }, { "quantity", o.Quantity },
            { "order_type", o.OrderType }, { "tif", o.Tif }, { "limit_price", o.LimitPrice }, { "stop_price", o.StopPrice },
            { "bracket_stop", o.BracketStop }, { "bracket_target", o.BracketTarget },
        };
        return Result(Ask(new Dictionary<string, object> { { "op", "place" }, { "order", order } }));
    }

    public string ConnectionOf(string account) { return "connected"; }

    public BrokerResult Cancel(string account, string key, string orderRef)
    {
        return Result(Ask(new Dictionary<string, object> { { "op", "cancel" }, { "account", account }, { "key", key } }));
    }

    public BrokerResult Flatten(string account, bool cancelWorking)
    {
        return Result(Ask(new Dictionary<string, object> { { "op", "flatten" }, { "account", account }, { "cancel_working", cancelWorking } }));
    }

    public IList<PositionReport> Positions(string account)
    {
        var answer = Ask(new Dictionary<string, object> { { "op", "positions" }, { "account", account } });
        var result = new List<PositionReport>();
        foreach (var item in (List<object>)answer["positions"])
        {
            var p = (Dictionary<string, object>)item;
            result.Add(new PositionReport { Account = account, Symbol = Json.Str(p, "symbol"), Quantity = (int)Json.Dec(p, "quantity").Value,
                                            AveragePrice = Json.Dec(p, "average_price") });
        }
        return result;
    }

    public AccountReport Balance(string account)
    {
        var a = Ask(new Dictionary<string, object> { { "op", "account" }, { "account", account } });
        return new AccountReport { Account = account, Balance = Json.Dec(a, "balance").Value, Realized = Json.Dec(a, "realized").Value, Open = Json.Dec(a, "open").Value };
    }
}

public static class Program
{
    static readonly object outLock = new object();

    public static void Out(Dictionary<string, object> message)
    {
        lock (outLock)
        {
            Console.Out.WriteLine(Json.Write(message));
            Console.Out.Flush();
        }
    }

    public static int Main(string[] args)
    {
        string url = args[0], token = Environment.GetEnvironmentVariable("ENIGMA_APEX_TOKEN");
        var broker = new StdioBroker(args[1].Split(','));
        var session = new ExecutorSession(broker);
        var connection = new HubConnection(url, token, "Mono conformance host", session) { HeartbeatSeconds = 1.0, MaxBackoffSeconds = 1.0 };
        connection.Status = text => Out(new Dictionary<string, object> { { "op", "status" }, { "text", text } });
        string flattenAfter = Environment.GetEnvironmentVariable("ENIGMA_APEX_FLATTEN_AFTER_S");
        if (!string.IsNullOrEmpty(flattenAfter))
        {
            connection.FlattenAfterDisconnectSeconds = double.Parse(flattenAfter, CultureInfo.InvariantCulture);
            connection.FlattenAll = () => { foreach (var account in broker.Accounts()) broker.Flatten(account, true); };
        }
        connection.Start();
        string line;
        while ((line = Console.In.ReadLine()) != null)
        {
            var message = Json.ParseObject(line);
            string op = Json.Str(message, "op");
            if (op == "quit") break;
            if (op == "drop") { connection.Drop(); continue; }
            if (op == "result") { broker.Answer(message); continue; }
            if (op != "event") continue;
            string kind = Json.Str(message, "kind");
            if (kind == "fill")
                session.ReportFill(Json.Str(message, "fill_id"), Json.Str(message, "key"), Json.Str(message, "account"),
                    Json.Str(message, "symbol"), Json.Str(message, "side"), (int)Json.Dec(message, "quantity").Value,
                    Json.Dec(message, "price").Value, Json.Dec(message, "commission").Value,
                    DateTimeOffset.Parse(Json.Str(message, "executed_at"), CultureInfo.InvariantCulture));
            else if (kind == "order")
                session.ReportOrder(Json.Str(message, "key"), Json.Str(message, "account"), Json.Str(message, "status"),
                    (int)Json.Dec(message, "filled").Value, Json.Dec(message, "average_price"), Json.Str(message, "broker_id"),
                    Json.Str(message, "reason"));
            else if (kind == "position")
                session.ReportPosition(new PositionReport { Account = Json.Str(message, "account"), Symbol = Json.Str(message, "symbol"),
                    Quantity = (int)Json.Dec(message, "quantity").Value, AveragePrice = Json.Dec(message, "average_price") });
        }
        connection.Dispose();
        return 0;
    }
}
