// A faithful fake of the NinjaTrader 8 account API (NinjaTrader.Cbi) for the scenario tests under Mono: the members
// the Enigma-Apex NinjaScript files use, with the names, signatures and behaviour the NinjaTrader 8 Help Guide
// (ninjatrader.com/support/helpguides/nt8/<page>.htm, cited per member as "HG <page>") and the reflection listing
// of the real assemblies (matdev83/ninjatrader-autodocs, "RL <type>") describe. Inside NinjaTrader the real
// assemblies are used; nothing here ships in the import archive.
//
// Behaviour imitated, beyond signatures:
// - account events (OrderUpdate, ExecutionUpdate, PositionUpdate, AccountItemUpdate, AccountStatusUpdate) are raised
//   on a thread of their own, never the caller's (HG orderupdate: "subscribe ... events are raised on another
//   thread"); an exception escaping a handler ends the process, as an unhandled exception on a .NET thread does;
// - Account.All, Orders and Positions are plain Collection<T>: enumerating one while it changes throws unless the
//   reader holds the collection's lock, which the simulation takes for every change (HG all, orders_account,
//   positions_account: the examples lock the collection before reading);
// - CreateOrder names are at most 50 characters (HG createorder: "Max 50 characters"; the fake throws beyond);
// - an account whose ConnectionStatus is not Connected rejects submissions;
// - OCO: a fill or cancellation of one order cancels the rest of its OCO group (HG createorder, "oco");
// - Flatten cancels the instruments' working orders, then closes their positions at market (HG flatten);
// - a position that goes flat is removed from Positions with Operation.Remove (RL Operation, PositionEventArgs).
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.Globalization;
using System.Linq;
using System.Threading;

namespace NinjaTrader.Core
{
    public static class Globals
    {
        // HG createorder: "gtd ... for all other cases you can pass in Core.Globals.MaxDate"
        public static readonly DateTime MaxDate = new DateTime(2099, 12, 1);
        // HG userdatadir: the user's NinjaTrader documents folder (Documents\NinjaTrader 8\)
        public static string UserDataDir = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "NinjaTrader 8") + System.IO.Path.DirectorySeparatorChar;
        // HG creating_your_own_addon_window: windows are opened through Core.Globals.RandomDispatcher
        public static readonly System.Windows.Threading.Dispatcher RandomDispatcher = new System.Windows.Threading.Dispatcher();
    }
}

namespace NinjaTrader.Cbi
{
    // HG createorder (parameters), RL OrderAction / OrderType / OrderEntry / TimeInForce
    public enum OrderAction { Buy, BuyToCover, Sell, SellShort }
    public enum OrderType { Limit, Market, MIT, StopLimit, StopMarket, Unknown }
    public enum OrderEntry { Automated, Manual }
    public enum TimeInForce { Day, Gtc, Gtd, Ioc, Opg }
    // HG orderstate: every state an order passes through
    public enum OrderState
    {
        Accepted, CancelPending, CancelSubmitted, Cancelled, ChangePending, ChangeSubmitted, Filled, Initialized,
        PartFilled, Rejected, Submitted, TriggerPending, Unknown, Working, AcceptedByRisk, Suspended,
    }
    public enum MarketPosition { Flat, Long, Short }
    // HG accountitem
    public enum AccountItem { BuyingPower, CashValue, ExcessInitialMargin, GrossRealizedProfitLoss, NetLiquidation, RealizedProfitLoss, UnrealizedProfitLoss }
    public enum Currency { UsDollar }
    // RL ConnectionStatus
    public enum ConnectionStatus { Connected, Connecting, ConnectionLost, Disconnected, Disconnecting }
    // RL ErrorCode (the members used)
    public enum ErrorCode { NoError, OrderRejected, UnableToCancelOrder, UnableToChangeOrder, UnableToSubmitOrder, UserAbort }
    // RL Operation
    public enum Operation { Add, Update, Remove }
    // HG getunrealizedprofitloss
    public enum PerformanceUnit { Currency, Percent, Pips, Points, Ticks }
    public enum MarketDataType { Ask, Bid, Last, DailyHigh, DailyLow, DailyVolume, LastClose, Opening, OpenInterest, Settlement, Unknown }

    public class CustomOrder { }

    // HG masterinstrument
    public class MasterInstrument
    {
        public string Name { get; set; }
        public double TickSize { get; set; }
        public double PointValue { get; set; }
        // HG roundtoticksize
        public double RoundToTickSize(double price) { return Math.Round(price / TickSize) * TickSize; }
    }

    // HG marketdataeventargs
    public class MarketDataEventArgs : EventArgs
    {
        public MarketDataType MarketDataType { get; internal set; }
        public double Price { get; internal set; }
        public long Volume { get; internal set; }
        public DateTime Time { get; internal set; }
        public Instrument Instrument { get; internal set; }
    }

    // HG marketdata: snapshot properties and the Update event
    public class MarketData
    {
        public Instrument Instrument { get; internal set; }
        public MarketDataEventArgs Ask { get; internal set; }
        public MarketDataEventArgs Bid { get; internal set; }
        public MarketDataEventArgs Last { get; internal set; }
        public event EventHandler<MarketDataEventArgs> Update;
        internal void Raise(MarketDataEventArgs e) { var u = Update; if (u != null) u(this, e); }
        internal bool HasSubscribers { get { return Update != null; } }
    }

    // HG instrument, getinstrument
    public class Instrument
    {
        static readonly Dictionary<string, Instrument> known = new Dictionary<string, Instrument>();
        public string FullName { get; internal set; }
        public MasterInstrument MasterInstrument { get; internal set; }
        public MarketData MarketData { get; internal set; }
        // HG marketdata example: instrument.Dispatcher.InvokeAsync(() => instrument.MarketData.Update += ...)
        public System.Windows.Threading.Dispatcher Dispatcher { get; internal set; }

        public static Instrument GetInstrument(string name)
        {
            lock (known) { Instrument i; return known.TryGetValue(name ?? "", out i) ? i : null; }
        }

        /// <summary>Test only: make an instrument known (NinjaTrader's instrument database).</summary>
        public static Instrument Define(string fullName, double tickSize, double pointValue)
        {
            var instrument = new Instrument
            {
                FullName = fullName,
                MasterInstrument = new MasterInstrument { Name = fullName.Split(' ')[0], TickSize = tickSize, PointValue = pointValue },
                Dispatcher = new System.Windows.Threading.Dispatcher(),
            };
            instrument.MarketData = new MarketData { Instrument = instrument };
            lock (known) known[fullName] = instrument;
            return instrument;
        }

        public override string ToString() { return FullName; }
    }

    // HG order
    public class Order
    {
        static long nextId;
        public string Name { get; internal set; }
        public string Oco { get; internal set; }
        public string FromEntrySignal { get; internal set; }  // HG order: a managed exit's entry signal
        public string OrderId { get; internal set; }
        public long Id { get; internal set; }
        public Account Account { get; internal set; }
        public Instrument Instrument { get; internal set; }
        public OrderAction OrderAction { get; internal set; }
        public OrderType OrderType { get; internal set; }
        public OrderEntry OrderEntry { get; internal set; }
        public OrderState OrderState { get; internal set; }
        public TimeInForce TimeInForce { get; internal set; }
        public int Quantity { get; internal set; }
        public int Filled { get; internal set; }
        public double AverageFillPrice { get; internal set; }
        public double LimitPrice { get; internal set; }
        public double StopPrice { get; internal set; }
        public DateTime Time { get; internal set; }
        // HG change: set the ...Changed properties, then Account.Change
        public int QuantityChanged { get; set; }
        public double LimitPriceChanged { get; set; }
        public double StopPriceChanged { get; set; }
        internal bool Triggered;
        internal Action<Order> Owner;  // a strategy's managed order (fake: routes its events to the strategy)
        internal Action<Execution> OnFill;  // a strategy's or an ATM strategy's order (fake: routes its fills)

        internal Order() { Id = Interlocked.Increment(ref nextId); OrderId = "NT" + Id.ToString(CultureInfo.InvariantCulture); }

        // HG isterminalstate
        public static bool IsTerminalState(OrderState state)
        {
            return state == OrderState.Cancelled || state == OrderState.Filled || state == OrderState.Rejected || state == OrderState.Unknown;
        }

        public bool IsLong { get { return OrderAction == OrderAction.Buy || OrderAction == OrderAction.BuyToCover; } }
        public override string ToString() { return Name + " " + OrderAction + " " + Quantity + " " + OrderState; }
    }

    // HG execution
    public class Execution
    {
        public string ExecutionId { get; internal set; }
        public string OrderId { get; internal set; }
        public string Name { get; internal set; }
        public Order Order { get; internal set; }  // null for executions NinjaTrader did not place through an Order
        public Account Account { get; internal set; }
        public Instrument Instrument { get; internal set; }
        public MarketPosition MarketPosition { get; internal set; }  // Long: a buy, Short: a sell
        public int Quantity { get; internal set; }
        public double Price { get; internal set; }
        public double Commission { get; internal set; }
        public DateTime Time { get; internal set; }
    }

    // HG position
    public class Position
    {
        public Account Account { get; internal set; }
        public Instrument Instrument { get; internal set; }
        public MarketPosition MarketPosition { get; internal set; }
        public int Quantity { get; internal set; }
        public double AveragePrice { get; internal set; }

        // HG getunrealizedprofitloss
        public double GetUnrealizedProfitLoss(PerformanceUnit unit, double price = 0)
        {
            if (MarketPosition == MarketPosition.Flat) return 0;
            if (price == 0) price = Instrument.MarketData.Last != null ? Instrument.MarketData.Last.Price : AveragePrice;
            double points = (price - AveragePrice) * (MarketPosition == MarketPosition.Long ? 1 : -1) * Quantity;
            return unit == PerformanceUnit.Points ? points : points * Instrument.MasterInstrument.PointValue;
        }
    }

    // HG orderupdate (OrderEventArgs)
    public class OrderEventArgs : EventArgs
    {
        public Order Order { get; internal set; }
        public string OrderId { get; internal set; }
        public OrderState OrderState { get; internal set; }
        public int Quantity { get; internal set; }
        public int Filled { get; internal set; }
        public double AverageFillPrice { get; internal set; }
        public double LimitPrice { get; internal set; }
        public double StopPrice { get; internal set; }
        public ErrorCode Error { get; internal set; }
        public string Comment { get; internal set; }
        public DateTime Time { get; internal set; }
    }

    // HG executionupdate (ExecutionEventArgs)
    public class ExecutionEventArgs : EventArgs
    {
        public Execution Execution { get; internal set; }
        public string ExecutionId { get; internal set; }
        public Instrument Instrument { get; internal set; }
        public MarketPosition MarketPosition { get; internal set; }
        public string OrderId { get; internal set; }
        public int Quantity { get; internal set; }
        public double Price { get; internal set; }
        public DateTime Time { get; internal set; }
    }

    // HG positionupdate (PositionEventArgs), RL PositionEventArgs
    public class PositionEventArgs : EventArgs
    {
        public Position Position { get; internal set; }
        public MarketPosition MarketPosition { get; internal set; }
        public int Quantity { get; internal set; }
        public double AveragePrice { get; internal set; }
        public Operation Operation { get; internal set; }
    }

    // HG accountitemupdate
    public class AccountItemEventArgs : EventArgs
    {
        public Account Account { get; internal set; }
        public AccountItem AccountItem { get; internal set; }
        public Currency Currency { get; internal set; }
        public double Value { get; internal set; }
    }

    // RL AccountStatusEventArgs; HG accountstatusupdate
    public class AccountStatusEventArgs : EventArgs
    {
        public Account Account { get; internal set; }
        public ConnectionStatus Status { get; internal set; }
        public ConnectionStatus PreviousStatus { get; internal set; }
        public string Message { get; internal set; }
    }

    // RL Connection
    public class Connection
    {
        public ConnectionStatus Status { get; internal set; }
    }

    // HG account_class
    public class Account
    {
        // HG all: Collection<Account>; RL Account.All
        public static readonly Collection<Account> All = new Collection<Account>();
        // HG accountstatusupdate: status events of every account
        public static event EventHandler<AccountStatusEventArgs> AccountStatusUpdate;

        public string Name { get; internal set; }
        public ConnectionStatus ConnectionStatus { get { return Connection.Status; } }
        public Connection Connection { get; internal set; }
        public readonly Collection<Order> Orders = new Collection<Order>();
        public readonly Collection<Position> Positions = new Collection<Position>();
        public readonly Collection<Execution> Executions = new Collection<Execution>();

        public event EventHandler<OrderEventArgs> OrderUpdate;
        public event EventHandler<ExecutionEventArgs> ExecutionUpdate;
        public event EventHandler<PositionEventArgs> PositionUpdate;
        public event EventHandler<AccountItemEventArgs> AccountItemUpdate;

        internal double Cash, Realized;
        internal string FailGet;  // test only: Get() throws this (a broker adapter failing mid-read)

        // ------------------------------------------------------------------ HG createorder
        public Order CreateOrder(Instrument instrument, OrderAction action, OrderType orderType, OrderEntry orderEntry,
                                 TimeInForce timeInForce, int quantity, double limitPrice, double stopPrice, string oco,
                                 string name, DateTime gtd, CustomOrder customOrder)
        {
            if (instrument == null) throw new ArgumentNullException("instrument");
            if (name != null && name.Length > 50)
                Sim.Violation("CreateOrder name longer than 50 characters (HG createorder): " + name);
            if (oco != null && oco.Length > 50) Sim.Violation("OCO id longer than 50 characters: " + oco);
            return new Order
            {
                Account = this, Instrument = instrument, OrderAction = action, OrderType = orderType, OrderEntry = orderEntry,
                TimeInForce = timeInForce, Quantity = quantity, LimitPrice = limitPrice, StopPrice = stopPrice, Oco = oco ?? "",
                Name = name ?? "", OrderState = OrderState.Initialized, Time = Sim.Now,
            };
        }

        // HG submit
        public void Submit(IEnumerable<Order> orders) { foreach (var o in orders.ToList()) Sim.Submit(this, o); }
        // HG cancel
        public void Cancel(IEnumerable<Order> orders) { foreach (var o in orders.ToList()) Sim.CancelOrder(o, "cancelled"); }
        // HG change
        public void Change(IEnumerable<Order> orders) { foreach (var o in orders.ToList()) Sim.ChangeOrder(o); }
        // HG flatten
        public void Flatten(ICollection<Instrument> instruments) { Sim.Flatten(this, instruments); }
        // HG get
        public double Get(AccountItem item, Currency currency)
        {
            if (FailGet != null) throw new InvalidOperationException(FailGet);
            double open = 0;
            lock (Positions) foreach (var p in Positions) open += p.GetUnrealizedProfitLoss(PerformanceUnit.Currency);
            switch (item)
            {
                case AccountItem.CashValue: return Cash;
                case AccountItem.RealizedProfitLoss: return Realized;
                case AccountItem.UnrealizedProfitLoss: return open;
                case AccountItem.NetLiquidation: return Cash + open;
                default: return 0;
            }
        }

        internal void RaiseOrder(OrderEventArgs e) { var h = OrderUpdate; if (h != null) Sim.Raise(() => h(this, e)); }
        internal void RaiseExecution(ExecutionEventArgs e) { var h = ExecutionUpdate; if (h != null) Sim.Raise(() => h(this, e)); }
        internal void RaisePosition(PositionEventArgs e) { var h = PositionUpdate; if (h != null) Sim.Raise(() => h(this, e)); }
        internal static void RaiseStatus(AccountStatusEventArgs e) { var h = AccountStatusUpdate; if (h != null) Sim.Raise(() => h(null, e)); }
        internal void RaiseItem(AccountItemEventArgs e) { var h = AccountItemUpdate; if (h != null) Sim.Raise(() => h(this, e)); }
        internal int Handlers { get { return (OrderUpdate == null ? 0 : 1) + (ExecutionUpdate == null ? 0 : 1) + (PositionUpdate == null ? 0 : 1); } }

        public override string ToString() { return Name; }
    }

    /// <summary>The fake's simulation engine (not NinjaTrader API): prices set by the test fill orders.</summary>
    public static class Sim
    {
        static readonly BlockingCollection<Action> events = new BlockingCollection<Action>();
        static readonly object book = new object();
        static long executions;
        public static readonly List<string> Violations = new List<string>();
        public static Action<string> Log = _ => { };
        public static DateTime Now { get { return DateTime.UtcNow; } }

        static Sim()
        {
            // one event thread: NinjaTrader raises account events off the caller's thread, in order
            var thread = new Thread(() => { foreach (var raise in events.GetConsumingEnumerable()) raise(); })
            {
                IsBackground = true,
                Name = "NinjaTrader account events (fake)",
            };
            thread.Start();
        }

        internal static void Raise(Action raise) { events.Add(raise); }

        /// <summary>Wait until every event raised so far has been handled.</summary>
        public static void Drain()
        {
            using (var done = new ManualResetEventSlim())
            {
                events.Add(() => done.Set());
                done.Wait(TimeSpan.FromSeconds(10));
            }
        }

        internal static void Violation(string text)
        {
            lock (Violations) Violations.Add(text);
            throw new ArgumentException(text);
        }

        public static Account AddAccount(string name, double cash, ConnectionStatus status)
        {
            var account = new Account { Name = name, Cash = cash, Connection = new Connection { Status = status } };
            lock (Account.All) Account.All.Add(account);
            Account.RaiseStatus(new AccountStatusEventArgs { Account = account, Status = status, PreviousStatus = ConnectionStatus.Disconnected, Message = "" });
            return account;
        }

        public static void SetStatus(Account account, ConnectionStatus status, string message)
        {
            var previous = account.Connection.Status;
            account.Connection.Status = status;
            Account.RaiseStatus(new AccountStatusEventArgs { Account = account, Status = status, PreviousStatus = previous, Message = message ?? "" });
        }

        public static void RemoveAccount(Account account)
        {
            SetStatus(account, ConnectionStatus.Disconnected, "removed");
            lock (Account.All) Account.All.Remove(account);
        }

        public static void FailGet(Account account, string error) { account.FailGet = error; }

        public static void SetPrice(Instrument instrument, double last)
        {
            var md = instrument.MarketData;
            double tick = instrument.MasterInstrument.TickSize;
            md.Last = new MarketDataEventArgs { MarketDataType = MarketDataType.Last, Price = last, Time = Now, Instrument = instrument };
            md.Bid = new MarketDataEventArgs { MarketDataType = MarketDataType.Bid, Price = last, Time = Now, Instrument = instrument };
            md.Ask = new MarketDataEventArgs { MarketDataType = MarketDataType.Ask, Price = last + tick, Time = Now, Instrument = instrument };
            var e = md.Last;
            instrument.Dispatcher.InvokeAsync(() => md.Raise(e));
            List<Account> accounts;
            lock (Account.All) accounts = Account.All.ToList();
            foreach (var account in accounts)
            {
                List<Order> working;
                lock (account.Orders) working = account.Orders.Where(o => o.Instrument == instrument && IsWorking(o.OrderState)).ToList();
                foreach (var o in working) Evaluate(o);
            }
        }

        public static bool IsWorking(OrderState s)
        {
            return !Order.IsTerminalState(s) && s != OrderState.Initialized;
        }

        static void Update(Order o, OrderState state, ErrorCode error, string comment)
        {
            o.OrderState = state;
            o.Account.RaiseOrder(new OrderEventArgs
            {
                Order = o, OrderId = o.OrderId, OrderState = state, Quantity = o.Quantity, Filled = o.Filled,
                AverageFillPrice = o.AverageFillPrice, LimitPrice = o.LimitPrice, StopPrice = o.StopPrice,
                Error = error, Comment = comment ?? "", Time = Now,
            });
            var owner = o.Owner;
            if (owner != null) owner(o);
        }

        internal static void Submit(Account account, Order o)
        {
            lock (book)
            {
                if (o.OrderState != OrderState.Initialized) throw new InvalidOperationException("order already submitted: " + o.Name);
                lock (account.Orders) account.Orders.Add(o);
                if (account.ConnectionStatus != ConnectionStatus.Connected)
                {
                    Update(o, OrderState.Rejected, ErrorCode.OrderRejected, "account " + account.Name + " is not connected");
                    return;
                }
                if (o.Quantity < 1)
                {
                    Update(o, OrderState.Rejected, ErrorCode.OrderRejected, "quantity must be positive");
                    return;
                }
                Update(o, OrderState.Submitted, ErrorCode.NoError, "");
                Update(o, OrderState.Accepted, ErrorCode.NoError, "");
                Update(o, o.OrderType == OrderType.Market ? OrderState.Working : OrderState.Working, ErrorCode.NoError, "");
            }
            Evaluate(o);
        }

        static void Evaluate(Order o)
        {
            lock (book)
            {
                if (!IsWorking(o.OrderState)) return;
                var last = o.Instrument.MarketData.Last;
                if (last == null) return;
                double price = last.Price;
                bool buy = o.IsLong;
                double? fill = null;
                switch (o.OrderType)
                {
                    case OrderType.Market: fill = price; break;
                    case OrderType.Limit:
                        if (buy ? price <= o.LimitPrice : price >= o.LimitPrice) fill = buy ? Math.Min(price, o.LimitPrice) : Math.Max(price, o.LimitPrice);
                        break;
                    case OrderType.StopMarket:
                        if (buy ? price >= o.StopPrice : price <= o.StopPrice) fill = price;
                        break;
                    case OrderType.StopLimit:
                        if (!o.Triggered && (buy ? price >= o.StopPrice : price <= o.StopPrice)) o.Triggered = true;
                        if (o.Triggered && (buy ? price <= o.LimitPrice : price >= o.LimitPrice)) fill = buy ? Math.Min(price, o.LimitPrice) : Math.Max(price, o.LimitPrice);
                        break;
                }
                if (fill.HasValue) Fill(o, o.Quantity - o.Filled, fill.Value);
            }
        }

        /// <summary>Test only: fill part of a working order at a price (a partial fill).</summary>
        public static void PartFill(Order o, int quantity, double price) { lock (book) Fill(o, quantity, price); }

        static void Fill(Order o, int quantity, double price)
        {
            var account = o.Account;
            o.AverageFillPrice = (o.AverageFillPrice * o.Filled + price * quantity) / (o.Filled + quantity);
            o.Filled += quantity;
            var execution = new Execution
            {
                ExecutionId = "X" + Interlocked.Increment(ref executions).ToString(CultureInfo.InvariantCulture), OrderId = o.OrderId,
                Name = o.Name, Order = o, Account = account, Instrument = o.Instrument, Quantity = quantity, Price = price, Time = Now,
                MarketPosition = o.IsLong ? MarketPosition.Long : MarketPosition.Short,
            };
            Update(o, o.Filled >= o.Quantity ? OrderState.Filled : OrderState.PartFilled, ErrorCode.NoError, "");
            Execute(account, execution);
            if (o.OrderState == OrderState.Filled && o.Oco.Length > 0) CancelOco(o);
        }

        static void Execute(Account account, Execution execution)
        {
            lock (account.Executions) account.Executions.Add(execution);
            account.RaiseExecution(new ExecutionEventArgs
            {
                Execution = execution, ExecutionId = execution.ExecutionId, Instrument = execution.Instrument,
                MarketPosition = execution.MarketPosition, OrderId = execution.OrderId, Quantity = execution.Quantity,
                Price = execution.Price, Time = execution.Time,
            });
            Move(account, execution.Instrument, execution.MarketPosition == MarketPosition.Long ? execution.Quantity : -execution.Quantity, execution.Price);
            if (execution.Order != null && execution.Order.OnFill != null) execution.Order.OnFill(execution);
        }

        /// <summary>Test only: an execution NinjaTrader reports without an Order (e.g. closed at the broker).</summary>
        public static void ForeignExecution(Account account, Instrument instrument, int signed, double price)
        {
            lock (book)
                Execute(account, new Execution
                {
                    ExecutionId = "X" + Interlocked.Increment(ref executions).ToString(CultureInfo.InvariantCulture), OrderId = "",
                    Name = "Exit on session close", Order = null, Account = account, Instrument = instrument, Quantity = Math.Abs(signed),
                    Price = price, Time = Now, MarketPosition = signed > 0 ? MarketPosition.Long : MarketPosition.Short,
                });
        }

        static void Move(Account account, Instrument instrument, int signed, double price)
        {
            Position p;
            Operation op;
            lock (account.Positions)
            {
                p = account.Positions.FirstOrDefault(x => x.Instrument == instrument);
                int before = p == null ? 0 : (p.MarketPosition == MarketPosition.Long ? p.Quantity : -p.Quantity);
                double avg = p == null ? 0 : p.AveragePrice;
                int after = before + signed;
                if (before != 0 && Math.Sign(before) != Math.Sign(signed))
                {
                    int closed = Math.Min(Math.Abs(before), Math.Abs(signed));
                    account.Realized += (price - avg) * Math.Sign(before) * closed * instrument.MasterInstrument.PointValue;
                    account.Cash += (price - avg) * Math.Sign(before) * closed * instrument.MasterInstrument.PointValue;
                    if (Math.Sign(after) != Math.Sign(before) && after != 0) avg = price;
                }
                else if (after != 0) avg = (avg * Math.Abs(before) + price * Math.Abs(signed)) / Math.Abs(after);
                if (p == null)
                {
                    p = new Position { Account = account, Instrument = instrument };
                    account.Positions.Add(p);
                    op = Operation.Add;
                }
                else op = after == 0 ? Operation.Remove : Operation.Update;
                p.MarketPosition = after > 0 ? MarketPosition.Long : after < 0 ? MarketPosition.Short : MarketPosition.Flat;
                p.Quantity = Math.Abs(after);
                p.AveragePrice = after == 0 ? 0 : avg;
                if (after == 0) account.Positions.Remove(p);
            }
            account.RaiseItem(new AccountItemEventArgs { Account = account, AccountItem = AccountItem.CashValue, Currency = Currency.UsDollar, Value = account.Cash });
            account.RaisePosition(new PositionEventArgs { Position = p, MarketPosition = p.MarketPosition, Quantity = p.Quantity, AveragePrice = p.AveragePrice, Operation = op });
        }

        static void CancelOco(Order filled)
        {
            List<Order> group;
            lock (filled.Account.Orders)
                group = filled.Account.Orders.Where(x => x != filled && x.Oco == filled.Oco && IsWorking(x.OrderState)).ToList();
            foreach (var x in group) Update(x, OrderState.Cancelled, ErrorCode.NoError, "OCO");
        }

        internal static void CancelOrder(Order o, string why)
        {
            lock (book)
            {
                if (!IsWorking(o.OrderState)) return;
                Update(o, OrderState.CancelPending, ErrorCode.NoError, "");
                Update(o, OrderState.Cancelled, ErrorCode.NoError, why);
                if (o.Oco.Length > 0) CancelOco(o);
            }
        }

        internal static void ChangeOrder(Order o)
        {
            lock (book)
            {
                if (!IsWorking(o.OrderState)) return;
                if (o.QuantityChanged > 0 && o.QuantityChanged != o.Quantity) o.Quantity = Math.Max(o.QuantityChanged, o.Filled);
                if (o.StopPriceChanged > 0) o.StopPrice = o.StopPriceChanged;
                if (o.LimitPriceChanged > 0) o.LimitPrice = o.LimitPriceChanged;
                Update(o, OrderState.ChangePending, ErrorCode.NoError, "");
                Update(o, OrderState.ChangeSubmitted, ErrorCode.NoError, "");
                Update(o, OrderState.Working, ErrorCode.NoError, "");
            }
            Evaluate(o);
        }

        internal static void Flatten(Account account, ICollection<Instrument> instruments)
        {
            List<Order> working;
            lock (account.Orders)
                working = account.Orders.Where(o => instruments.Contains(o.Instrument) && IsWorking(o.OrderState)).ToList();
            foreach (var o in working) CancelOrder(o, "flatten");
            List<Position> open;
            lock (account.Positions) open = account.Positions.Where(p => instruments.Contains(p.Instrument)).ToList();
            foreach (var p in open)
            {
                var close = account.CreateOrder(p.Instrument, p.MarketPosition == MarketPosition.Long ? OrderAction.Sell : OrderAction.BuyToCover,
                                                OrderType.Market, OrderEntry.Manual, TimeInForce.Day, p.Quantity, 0, 0, "", "Close", Core.Globals.MaxDate, null);
                Submit(account, close);
            }
        }

        /// <summary>Test only: a position and its average, signed.</summary>
        public static int Held(Account account, Instrument instrument)
        {
            lock (account.Positions)
            {
                var p = account.Positions.FirstOrDefault(x => x.Instrument == instrument);
                return p == null ? 0 : p.MarketPosition == MarketPosition.Long ? p.Quantity : -p.Quantity;
            }
        }

        public static List<Order> Working(Account account)
        {
            lock (account.Orders) return account.Orders.Where(o => IsWorking(o.OrderState)).ToList();
        }

        public static int HandlerCount(Account account) { return account.Handlers; }
    }
}
