import FakeUpstream
/// Made-up but realistic chat text in English or Chinese, from word lists, deterministic for a given generator.
enum Text {
    static let english: [String] = """
        the a to of and in is it that for on with as this be are can you how what why when should would \
        database index query server memory performance stream token model latency cache network request response \
        function code test deploy config user session message history search english chinese learn time today \
        explain example better faster slower error retry timeout connection pool thread async await swift python \
        rust table column row transaction commit write read file disk page layout browser render markdown math \
        formula answer question help please thanks idea plan step first then next finally because however also \
        simple complex small large number value list array string text word sentence paragraph book story travel \
        weather coffee tea music movie city river mountain garden kitchen recipe bread rice noodle family friend \
        work meeting project deadline budget report chart design color font image video camera phone laptop
        """.split(whereSeparator: \.isWhitespace).map(String.init)

    static let chinese: [String] = """
        我们 你 他们 这个 那个 可以 需要 如何 为什么 什么 怎么 是否 已经 还是 但是 因为 所以 如果 然后 最后 \
        数据库 索引 查询 服务器 内存 性能 流式 令牌 模型 延迟 缓存 网络 请求 响应 函数 代码 测试 部署 配置 \
        用户 会话 消息 历史 搜索 中文 英文 学习 时间 今天 明天 解释 例子 更好 更快 错误 重试 超时 连接 线程 \
        异步 表格 事务 提交 写入 读取 文件 磁盘 页面 浏览器 渲染 公式 答案 问题 帮助 谢谢 想法 计划 步骤 \
        简单 复杂 数字 列表 字符串 文本 句子 段落 故事 旅行 天气 咖啡 音乐 电影 城市 河流 山 花园 厨房 \
        面包 米饭 面条 家人 朋友 工作 会议 项目 预算 报告 图表 设计 颜色 字体 图片 视频 相机 手机 电脑
        """.split(whereSeparator: \.isWhitespace).map(String.init)

    static func pick<T>(_ list: [T], _ random: inout SplitMix) -> T { list[Int(random.next() % UInt64(list.count))] }

    static func sentence(_ english: Bool, _ random: inout SplitMix, words: ClosedRange<Int>) -> String {
        let n = words.lowerBound + Int(random.next() % UInt64(words.count))
        var out = ""
        for i in 0..<n {
            var word = pick(english ? Self.english : Self.chinese, &random)
            if random.next() % 2_000 == 0 { word = english ? "zanzibar" : "量子纠缠" }  // the rare search words
            if english {
                if i > 0 { out += " " }
                out += i == 0 ? word.prefix(1).uppercased() + word.dropFirst() : word
            } else {
                out += word
                if i > 0, i % 6 == 0, i < n - 1 { out += "，" }
            }
        }
        return out + (english ? "." : "。")
    }

    static func paragraph(_ english: Bool, _ random: inout SplitMix, sentences: ClosedRange<Int>) -> String {
        let n = sentences.lowerBound + Int(random.next() % UInt64(sentences.count))
        var parts: [String] = []
        for _ in 0..<n {
            // One message in six mixes the other language in.
            let lang = random.next() % 6 == 0 ? !english : english
            parts.append(sentence(lang, &random, words: english ? 6...16 : 5...12))
        }
        return parts.joined(separator: english ? " " : "")
    }

    static func question(_ english: Bool, _ random: inout SplitMix) -> String {
        paragraph(english, &random, sentences: 1...4)
    }

    static func answer(_ english: Bool, _ random: inout SplitMix) -> String {
        var text = paragraph(english, &random, sentences: 2...7)
        if random.next() % 4 == 0 {
            text +=
                "\n\n```swift\nlet value = try await store.\(pick(Self.english, &random))(id: 42)\nprint(value)\n```\n\n"
        }
        if random.next() % 2 == 0 { text += "\n\n" + paragraph(english, &random, sentences: 1...5) }
        return text
    }

    static func title(_ english: Bool, _ random: inout SplitMix) -> String {
        let words = (0..<(english ? 4 : 3)).map { _ in pick(english ? Self.english : Self.chinese, &random) }
        return english ? words.joined(separator: " ").capitalized : words.joined()
    }
}
